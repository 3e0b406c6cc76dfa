"""Dependencies shared by the routes, as `Annotated` aliases: the services
wired once in create_app, who is asking, and who a bearer token stands for.

Every one is `async def` and cheap: a plain `def` dependency costs a
threadpool hop, and the services take their own blocking work off the loop.
"""

from typing import Annotated

from fastapi import Depends, Path, Request, Response
from fastapi.security import OAuth2PasswordBearer

from service.accounts import Accounts
from service.authentication import Authentication
from service.cookie_logins import CookieLogins
from service.database import Database
from service.email_change import EmailChanges
from service.login_sessions import LoginSessions
from service.logins import Principal
from service.problems import DomainError, Problem
from service.ratelimit_headers import quota_report
from service.recovery import Recovery
from service.requester import Requester
from service.schemas import UserPublic
from service.signing_keys import PublishedKeys
from service.throttling import Throttle

# Swagger UI's Authorize button logs in through this URL with the password grant.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="login", auto_error=False)


async def get_accounts(request: Request) -> Accounts:
    return request.app.state.accounts


async def get_authentication(request: Request) -> Authentication:
    return request.app.state.authentication


async def get_recovery(request: Request) -> Recovery:
    return request.app.state.recovery


async def get_login_sessions(request: Request) -> LoginSessions:
    return request.app.state.login_sessions


async def get_email_changes(request: Request) -> EmailChanges:
    return request.app.state.email_changes


async def get_cookie_logins(request: Request) -> CookieLogins:
    return request.app.state.cookie_logins


async def get_database(request: Request) -> Database:
    return request.app.state.database


async def get_throttle(request: Request) -> Throttle:
    return request.app.state.throttle


async def get_published_keys(request: Request) -> PublishedKeys:
    return request.app.state.published_keys


def no_store(response: Response) -> Response:
    """RFC 6749 5.1: an answer that holds or speaks of a token is never cached."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


async def repeated_fields(request: Request) -> list[str]:
    """The form's fields sent more than once: RFC 6749 3.2 makes each an
    invalid request, never a choice between the values."""
    form = await request.form()  # already parsed for the route: Starlette caches it
    return sorted({name for name, _ in form.multi_items() if len(form.getlist(name)) > 1})


async def get_requester(request: Request) -> Requester:
    """Who is asking: the client, as ClientAddressMiddleware resolved it, with
    the report the throttle notes its counts in (for the RateLimit headers)."""
    return Requester.now(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        quotas=quota_report(request),
    )


AccountsDep = Annotated[Accounts, Depends(get_accounts)]
AuthenticationDep = Annotated[Authentication, Depends(get_authentication)]
RecoveryDep = Annotated[Recovery, Depends(get_recovery)]
LoginSessionsDep = Annotated[LoginSessions, Depends(get_login_sessions)]
EmailChangesDep = Annotated[EmailChanges, Depends(get_email_changes)]
CookieLoginsDep = Annotated[CookieLogins, Depends(get_cookie_logins)]
DatabaseDep = Annotated[Database, Depends(get_database)]
ThrottleDep = Annotated[Throttle, Depends(get_throttle)]
RequesterDep = Annotated[Requester, Depends(get_requester)]
PublishedKeysDep = Annotated[PublishedKeys, Depends(get_published_keys)]


async def get_principal(
    token: Annotated[str | None, Depends(oauth2_scheme)], request: Request
) -> Principal:
    """Who the bearer token, or else the access cookie, stands for.

    A cookie is sent by the browser whoever made the page, so an unsafe
    request it authenticates must also come from an allowed origin and carry
    its login's CSRF token. A bearer token is only ever sent on purpose.
    """
    # The services are read here rather than through dependencies of their
    # own: this runs on every authenticated request, and each dependency costs.
    authentication: Authentication = request.app.state.authentication
    if token is None:
        cookies: CookieLogins = request.app.state.cookie_logins
        from_cookie = cookies.access_token(request)
        if from_cookie is not None:
            principal = await authentication.principal(from_cookie)
            cookies.check_unsafe(request, principal.login_id)
            return principal
    return await authentication.principal(token)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


async def get_current_user(principal: CurrentPrincipal) -> UserPublic:
    return UserPublic.model_validate(principal.user)


CurrentUser = Annotated[UserPublic, Depends(get_current_user)]


async def require_superuser(principal: CurrentPrincipal) -> Principal:
    if not principal.user.is_superuser:
        raise DomainError(Problem.FORBIDDEN)
    return principal


async def get_target_user(
    user_id: Annotated[int, Path(description="The user's id")],
    principal: CurrentPrincipal,
    accounts: AccountsDep,
) -> UserPublic:
    """The user a `/users/{user_id}` route acts on: oneself, or anyone for a superuser.

    Others get 403 whether or not the id exists, so ids cannot be probed.
    """
    if principal.user.id == user_id:
        return UserPublic.model_validate(principal.user)
    if not principal.user.is_superuser:
        raise DomainError(Problem.FORBIDDEN)
    user = await accounts.get(user_id)
    if user is None:
        raise DomainError(Problem.NO_SUCH_USER)
    return UserPublic.model_validate(user)


TargetUser = Annotated[UserPublic, Depends(get_target_user)]
