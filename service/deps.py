"""Dependencies shared by the routes, as `Annotated` aliases."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from service import accounts
from service.account_mail import AccountMail, Requester
from service.config import Settings
from service.database import Database
from service.logins import LoginStore, Principal
from service.problems import DomainError, Problem
from service.recovery import Recovery
from service.schemas import UserPublic
from service.security import PasswordHasher
from service.throttling import Throttle, client_key

# Swagger UI's Authorize button logs in through this URL with the password grant.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="login", auto_error=False)


# Cheap lookups are `async def`: a plain `def` dependency costs a threadpool hop.
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_hasher(request: Request) -> PasswordHasher:
    return request.app.state.hasher


async def get_session_store(request: Request) -> LoginStore:
    return request.app.state.sessions


async def get_throttle(request: Request) -> Throttle:
    return request.app.state.throttle


async def get_account_mail(request: Request) -> AccountMail:
    return request.app.state.mail


async def get_recovery(request: Request) -> Recovery:
    return request.app.state.recovery


async def get_requester(request: Request) -> Requester:
    """Who is asking, as a message about the request will say it."""
    return Requester.now(
        address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


async def get_client_address(request: Request) -> str:
    """Who is asking, for throttling: the peer, or the client a trusted proxy names."""
    return client_key(request.client.host if request.client else None)


async def get_database(request: Request) -> Database:
    return request.app.state.database


async def get_db(request: Request) -> AsyncIterator[Session]:
    # Creating a session touches no connection; the work that does runs in threads.
    session = request.app.state.database.sessions()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


SettingsDep = Annotated[Settings, Depends(get_settings)]
Hasher = Annotated[PasswordHasher, Depends(get_hasher)]
Sessions = Annotated[LoginStore, Depends(get_session_store)]
DbSession = Annotated[Session, Depends(get_db)]
DatabaseDep = Annotated[Database, Depends(get_database)]
ThrottleDep = Annotated[Throttle, Depends(get_throttle)]
ClientAddress = Annotated[str, Depends(get_client_address)]
Mail = Annotated[AccountMail, Depends(get_account_mail)]
RecoveryDep = Annotated[Recovery, Depends(get_recovery)]
RequesterDep = Annotated[Requester, Depends(get_requester)]


def get_principal(
    token: Annotated[str | None, Depends(oauth2_scheme)], request: Request
) -> Principal:
    # A plain `def`: the one query runs on the threadpool, the request's only
    # hop. The store is read here rather than through a dependency of its own:
    # this runs on every authenticated request, and each dependency costs.
    if not token:
        raise DomainError(Problem.NOT_AUTHENTICATED)
    store: LoginStore = request.app.state.sessions
    return store.authenticate(access_token=token)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


async def get_current_user(principal: CurrentPrincipal) -> UserPublic:
    return principal.user


CurrentUser = Annotated[UserPublic, Depends(get_current_user)]


async def require_superuser(user: CurrentUser) -> UserPublic:
    if not user.is_superuser:
        raise accounts.forbidden()
    return user


async def get_target_user(
    user_id: Annotated[int, Path(description="The user's id")],
    principal: CurrentPrincipal,
    db: DbSession,
) -> UserPublic:
    """The user a `/users/{user_id}` route acts on: oneself, or anyone for a superuser.

    Others get 403 whether or not the id exists, so ids cannot be probed.
    """
    if principal.user.id == user_id:
        return principal.user
    if not principal.user.is_superuser:
        raise accounts.forbidden()
    user = await run_in_threadpool(accounts.get_user, db, user_id)
    if user is None:
        raise accounts.not_found()
    return UserPublic.model_validate(user)


TargetUser = Annotated[UserPublic, Depends(get_target_user)]
