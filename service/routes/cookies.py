"""Cookie logins for browser apps: log in, refresh and log out with the tokens
in HttpOnly cookies, and the CSRF token a reloaded page needs.

Bearer clients never come here; docs/API-NOTES.md "Cookie logins" has the rules.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request, Response, status
from pydantic import BaseModel, Field

from service.cookie_logins import CookieLogins
from service.deps import AuthenticationDep, CookieLoginsDep, RequesterDep, no_store
from service.errors import problem_response
from service.login_values import IssuedTokens
from service.openapi import ALWAYS, WITH_BODY, error_responses
from service.problems import DomainError, Problem
from service.schemas import PASSWORD_INPUT_LIMIT, PasswordInput, PrintableText

router = APIRouter(prefix="/cookie", tags=["cookie logins"])

_REFUSED = (Problem.ORIGIN_REFUSED, Problem.CSRF_FAILED)
_TOKEN_REFUSED = frozenset({Problem.TOKEN_INVALID, Problem.TOKEN_EXPIRED})


class CookieLoginForm(BaseModel):
    username: Annotated[PrintableText, Field(max_length=320, description="The account's email")]
    password: Annotated[PasswordInput, Field(max_length=PASSWORD_INPUT_LIMIT)]


class CookieSession(BaseModel):
    """What a page may know of its cookie login: no token but the CSRF one."""

    token_type: Literal["cookie"] = "cookie"
    csrf_token: str = Field(description="Send it back in the X-CSRF-Token header")
    expires_in: int | None = Field(
        None, description="Seconds the access cookie lives; null from GET /cookie/session"
    )


def _opened(
    response: Response, request: Request, cookies: CookieLogins, tokens: IssuedTokens
) -> CookieSession:
    no_store(response)
    csrf_token = cookies.give(response, request, tokens)
    return CookieSession(csrf_token=csrf_token, expires_in=tokens.expires_in)


@router.post(
    "/login",
    summary="Log in with the password; the tokens are set as HttpOnly cookies",
    response_model=CookieSession,
    responses=error_responses(
        Problem.INVALID_CREDENTIALS,
        Problem.EMAIL_NOT_VERIFIED,
        Problem.ORIGIN_REFUSED,
        Problem.FIELD_REQUIRED,
        Problem.RATE_LIMITED,
        *WITH_BODY,
    ),
)
async def cookie_login(
    form: Annotated[CookieLoginForm, Form()],
    request: Request,
    response: Response,
    authentication: AuthenticationDep,
    requester: RequesterDep,
    cookies: CookieLoginsDep,
) -> CookieSession:
    # Before the password is checked: a page elsewhere must not log the
    # browser into an account of its choosing (login CSRF).
    cookies.check_origin(request)
    tokens = await authentication.log_in(
        email=form.username, password=form.password, requester=requester
    )
    return _opened(response, request, cookies, tokens)


@router.post(
    "/refresh",
    summary="Spend the refresh cookie for new cookies",
    response_model=CookieSession,
    responses=error_responses(
        Problem.NOT_AUTHENTICATED,
        Problem.TOKEN_INVALID,
        Problem.TOKEN_EXPIRED,
        *_REFUSED,
        Problem.RATE_LIMITED,
        *ALWAYS,
    ),
)
async def cookie_refresh(
    request: Request,
    response: Response,
    authentication: AuthenticationDep,
    requester: RequesterDep,
    cookies: CookieLoginsDep,
) -> CookieSession | Response:
    cookies.check_origin(request)
    refresh_token = cookies.signed_in_refresh_token(request)
    try:
        cookies.check_csrf(request, authentication.login_of(refresh_token))
        tokens = await authentication.refresh(refresh_token=refresh_token, requester=requester)
    except DomainError as error:
        if error.problem not in _TOKEN_REFUSED:
            raise
        # The login is over: cookies that can only be refused again go too.
        return cookies.clear(problem_response(error), request)
    return _opened(response, request, cookies, tokens)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End the cookie login and clear its cookies",
    responses=error_responses(*_REFUSED, *ALWAYS),
)
async def cookie_logout(
    request: Request,
    authentication: AuthenticationDep,
    requester: RequesterDep,
    cookies: CookieLoginsDep,
) -> Response:
    cookies.check_origin(request)
    refresh_token = cookies.refresh_token(request)
    if refresh_token is not None:
        try:
            login_id: str | None = authentication.login_of(refresh_token, expired_too=True)
        except DomainError:
            login_id = None  # not one of ours: no login to end, only cookies to clear
        if login_id is not None:
            cookies.check_csrf(request, login_id)
            await authentication.log_out(refresh_token=refresh_token, requester=requester)
    return cookies.clear(Response(status_code=status.HTTP_204_NO_CONTENT), request)


@router.get(
    "/session",
    summary="The CSRF token of the browser's cookie login, for a page that was reloaded",
    response_model=CookieSession,
    responses=error_responses(
        Problem.NOT_AUTHENTICATED, Problem.TOKEN_INVALID, Problem.TOKEN_EXPIRED, *ALWAYS
    ),
)
async def cookie_session(
    request: Request,
    response: Response,
    authentication: AuthenticationDep,
    cookies: CookieLoginsDep,
) -> CookieSession:
    # A GET changes nothing, and CORS lets only CORS_ORIGINS read the answer.
    refresh_token = cookies.signed_in_refresh_token(request)
    no_store(response)
    return CookieSession(csrf_token=cookies.csrf.for_login(authentication.login_of(refresh_token)))
