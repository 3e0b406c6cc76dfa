"""The OAuth2 token endpoint and sign-out."""

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from service import accounts
from service.deps import (
    ClientAddress,
    CurrentUser,
    DbSession,
    Hasher,
    Mail,
    RequesterDep,
    Sessions,
    SettingsDep,
    ThrottleDep,
    get_client_address,
    get_session_store,
    get_throttle,
)
from service.logins import LoginStore
from service.openapi import ALWAYS, SIGNED_IN, WITH_BODY, error_responses
from service.problems import DomainError, Problem
from service.schemas import (
    PASSWORD_INPUT_LIMIT,
    PasswordInput,
    PrintableText,
    RefreshRequest,
    TokenPair,
)
from service.throttling import Throttle

router = APIRouter(tags=["auth"])


class TokenRequest(BaseModel):
    """RFC 6749 token request: the password grant (4.3) or the refresh grant (6)."""

    grant_type: str | None = Field(
        None, max_length=64, description="`password` (the default) or `refresh_token`"
    )
    username: PrintableText | None = Field(None, max_length=320, description="The account's email")
    password: PasswordInput | None = Field(None, max_length=PASSWORD_INPUT_LIMIT)
    scope: PrintableText = Field("", max_length=1024, description="Accepted and ignored")
    refresh_token: PrintableText | None = Field(None, max_length=4096)
    client_id: str | None = Field(None, max_length=256)
    client_secret: str | None = Field(None, max_length=256)


async def _single_valued(request: Request) -> None:
    """RFC 6749 3.2: a parameter sent twice is an invalid request, not a choice."""
    form = await request.form()  # already parsed for the route: Starlette caches it
    repeated = sorted({name for name, _ in form.multi_items() if len(form.getlist(name)) > 1})
    if repeated:
        raise DomainError(Problem.SENT_TWICE, *repeated)


def _no_store(response: Response) -> None:
    # RFC 6749 5.1: token responses must not be cached.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"


def _require(form: TokenRequest, *names: str) -> list[str]:
    """The values of the named fields, or a 422 naming each missing one."""
    values = [getattr(form, name) for name in names]
    missing = [name for name, value in zip(names, values, strict=True) if not value]
    if missing:
        raise DomainError(Problem.FIELD_REQUIRED, *missing)
    return values


@router.post(
    "/login",
    name="login",
    summary="Log in (OAuth2 password grant) or refresh (refresh_token grant)",
    response_model=TokenPair,
    responses=error_responses(
        Problem.UNSUPPORTED_GRANT_TYPE,
        Problem.INVALID_CREDENTIALS,
        Problem.EMAIL_NOT_VERIFIED,
        Problem.TOKEN_INVALID,
        Problem.TOKEN_EXPIRED,
        Problem.FIELD_REQUIRED,
        Problem.RATE_LIMITED,
        *WITH_BODY,
        oauth=True,
    ),
)
async def login(
    form: Annotated[TokenRequest, Form()],
    response: Response,
    db: DbSession,
    hasher: Hasher,
    store: Sessions,
    throttle: ThrottleDep,
    address: ClientAddress,
    settings: SettingsDep,
    mail: Mail,
    requester: RequesterDep,
    request: Request,
) -> TokenPair:
    await _single_valued(request)
    _no_store(response)
    grant_type = form.grant_type or "password"
    if grant_type == "refresh_token":
        (refresh_token,) = _require(form, "refresh_token")
        return await run_in_threadpool(_rotate, store, throttle, address, refresh_token)
    if grant_type != "password":
        raise DomainError(Problem.UNSUPPORTED_GRANT_TYPE)
    email, password = _require(form, "username", "password")
    user = await accounts.authenticate(
        db=db,
        hasher=hasher,
        throttle=throttle,
        settings=settings,
        mail=mail,
        requester=requester,
        email=email,
        password=password,
        address=address,
    )
    # A password change, reset, deactivation or deletion that lands while the
    # password is checked leaves the login with nothing to open.
    pair = None
    if user is not None:
        pair = await run_in_threadpool(
            store.open, user_id=user.id, credential_version=user.credential_version
        )
    if pair is None:
        raise DomainError(Problem.INVALID_CREDENTIALS)
    return pair


@router.post(
    "/refresh",
    name="refresh",
    summary="Spend a refresh token for a new token pair",
    response_model=TokenPair,
    responses=error_responses(
        Problem.TOKEN_INVALID,
        Problem.TOKEN_EXPIRED,
        Problem.FIELD_REQUIRED,
        Problem.RATE_LIMITED,
        *WITH_BODY,
        oauth=True,
    ),
)
async def refresh(body: RefreshRequest, request: Request, response: Response) -> TokenPair:
    # The hottest write path, so it is lean as get_principal is: `async def`
    # with one hop to the threadpool (FastAPI validates a plain `def` route's
    # answer in a second hop), and the helpers called directly rather than
    # declared as dependencies (FastAPI's resolution of three costs more than
    # parsing the body).
    _no_store(response)
    store = await get_session_store(request)
    throttle = await get_throttle(request)
    address = await get_client_address(request)
    return await run_in_threadpool(_rotate, store, throttle, address, body.refresh_token)


def _rotate(store: LoginStore, throttle: Throttle, address: str, refresh_token: str) -> TokenPair:
    throttle.spend_refresh(address)
    return store.rotate(refresh_token=refresh_token)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End the login session of a refresh token",
    responses=error_responses(Problem.FIELD_REQUIRED, *WITH_BODY),
)
def logout(body: RefreshRequest, store: Sessions) -> None:
    store.revoke(refresh_token=body.refresh_token)


@router.post(
    "/logout/all",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End every session of the signed-in user",
    responses=error_responses(*SIGNED_IN, *ALWAYS),
)
def logout_all(user: CurrentUser, db: DbSession, store: Sessions) -> None:
    accounts.sign_out_everywhere(db, store=store, user_id=user.id)
