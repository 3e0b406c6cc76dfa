"""The OAuth2 token endpoint and sign-out."""

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response, status
from pydantic import BaseModel, Field

from service import scopes
from service.deps import (
    AuthenticationDep,
    RequesterDep,
    WritesSessions,
    get_authentication,
    get_requester,
    no_store,
    repeated_fields,
)
from service.logins import IssuedTokens
from service.models import SCOPE_MAX_LENGTH
from service.openapi import ALWAYS, SIGNED_IN, WITH_BODY, error_responses
from service.problems import DomainError, Problem
from service.schemas import (
    PASSWORD_INPUT_LIMIT,
    PasswordInput,
    PrintableText,
    RefreshRequest,
    TokenPair,
)

router = APIRouter(tags=["auth"])


class TokenRequest(BaseModel):
    """RFC 6749 token request: the password grant (4.3) or the refresh grant (6)."""

    grant_type: str | None = Field(
        None, max_length=64, description="`password` (the default) or `refresh_token`"
    )
    username: PrintableText | None = Field(None, max_length=320, description="The account's email")
    password: PasswordInput | None = Field(None, max_length=PASSWORD_INPUT_LIMIT)
    scope: PrintableText | None = Field(
        None,
        max_length=SCOPE_MAX_LENGTH,
        description="Space-separated scopes to grant (RFC 6749 3.3). Password grant: what"
        " of them the account's role allows; none sent, all it allows. Refresh grant:"
        " what of the login's scopes the new access token keeps; never more",
    )
    refresh_token: PrintableText | None = Field(None, max_length=4096)
    client_id: str | None = Field(None, max_length=256)
    client_secret: str | None = Field(None, max_length=256)


def _requested_scope(form: TokenRequest) -> frozenset[str] | None:
    try:
        return scopes.parse(form.scope)
    except scopes.ScopeError:
        raise DomainError(
            Problem.UNKNOWN_SCOPE, known=scopes.to_text(scopes.DESCRIPTIONS)
        ) from None


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
        Problem.UNKNOWN_SCOPE,
        Problem.SCOPE_NOT_ALLOWED,
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
    request: Request,
    response: Response,
    authentication: AuthenticationDep,
    requester: RequesterDep,
) -> TokenPair:
    repeated = await repeated_fields(request)
    if repeated:
        raise DomainError(Problem.SENT_TWICE, *repeated)
    no_store(response)
    grant_type = form.grant_type or "password"
    if grant_type not in ("password", "refresh_token"):
        raise DomainError(Problem.UNSUPPORTED_GRANT_TYPE)
    # Before any password is checked or token spent: a bad scope costs nothing.
    requested = _requested_scope(form)
    if grant_type == "refresh_token":
        (refresh_token,) = _require(form, "refresh_token")
        tokens = await authentication.refresh(
            refresh_token=refresh_token, requester=requester, narrow=requested
        )
    else:
        email, password = _require(form, "username", "password")
        tokens = await authentication.log_in(
            email=email, password=password, requester=requester, scope=requested
        )
    return _pair(tokens)


def _pair(tokens: IssuedTokens) -> TokenPair:
    return TokenPair(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
        scope=tokens.scope,
    )


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
    # The hottest write path: the service and requester are read directly
    # rather than declared as dependencies (FastAPI's resolution of them costs
    # more than parsing the body).
    no_store(response)
    authentication = await get_authentication(request)
    requester = await get_requester(request)
    tokens = await authentication.refresh(refresh_token=body.refresh_token, requester=requester)
    return _pair(tokens)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End the login session of a refresh token",
    responses=error_responses(Problem.FIELD_REQUIRED, *WITH_BODY),
)
async def logout(
    body: RefreshRequest, authentication: AuthenticationDep, requester: RequesterDep
) -> None:
    await authentication.log_out(refresh_token=body.refresh_token, requester=requester)


@router.post(
    "/logout/all",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End every session of the signed-in user",
    responses=error_responses(*SIGNED_IN, *ALWAYS),
)
async def logout_all(
    principal: WritesSessions, authentication: AuthenticationDep, requester: RequesterDep
) -> None:
    await authentication.log_out_everywhere(principal=principal, requester=requester)
