"""Dependencies shared by the routes, as `Annotated` aliases: the services
wired once in create_app, who is asking, and who a bearer token stands for.

Every one is `async def` and cheap: a plain `def` dependency costs a
threadpool hop, and the services take their own blocking work off the loop.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request, Response, Security
from fastapi.security import OAuth2PasswordBearer, SecurityScopes

from service import scopes
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
# Its scopes are what Authorize offers to ask for.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="login", scopes=scopes.DESCRIPTIONS, auto_error=False)


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


async def authenticate(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    """Who the bearer token, or else the access cookie, stands for, whatever
    it was granted (get_principal, get_admin and get_target check that).

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


def require_scopes(principal: Principal, needed: list[str]) -> None:
    """403 insufficient_scope, naming all the request needs (RFC 6750 3.1),
    unless the token was granted each of `needed`."""
    if not principal.scopes.issuperset(needed):
        raise DomainError(Problem.INSUFFICIENT_SCOPE, scope=scopes.to_text(needed))


async def get_principal(
    security_scopes: SecurityScopes, principal: Annotated[Principal, Depends(authenticate)]
) -> Principal:
    """The caller, whose token holds the scopes the route declares."""
    require_scopes(principal, security_scopes.scopes)
    return principal


ReadsProfile = Annotated[Principal, Security(get_principal, scopes=[scopes.PROFILE_READ])]
WritesProfile = Annotated[Principal, Security(get_principal, scopes=[scopes.PROFILE_WRITE])]
ReadsSessions = Annotated[Principal, Security(get_principal, scopes=[scopes.SESSIONS_READ])]
WritesSessions = Annotated[Principal, Security(get_principal, scopes=[scopes.SESSIONS_WRITE])]
ReadsEvents = Annotated[Principal, Security(get_principal, scopes=[scopes.EVENTS_READ])]


async def get_current_user(principal: ReadsProfile) -> UserPublic:
    return UserPublic.model_validate(principal.user)


CurrentUser = Annotated[UserPublic, Depends(get_current_user)]


def require_admin(principal: Principal, needed: list[str]) -> None:
    """403 forbidden unless the caller is an admin, by the role as stored now
    (not as it was at login); then 403 insufficient_scope without `needed`."""
    if not principal.user.is_superuser:
        raise DomainError(Problem.FORBIDDEN)
    require_scopes(principal, needed)


async def get_admin(
    security_scopes: SecurityScopes, principal: Annotated[Principal, Depends(authenticate)]
) -> Principal:
    """An admin whose token holds the declared `users:` scopes."""
    require_admin(principal, security_scopes.scopes)
    return principal


ReadsUsers = Annotated[Principal, Security(get_admin, scopes=[scopes.USERS_READ])]


@dataclass(frozen=True)
class Target:
    """The user a `/users/{user_id}` route acts on, and who asks."""

    user: UserPublic
    principal: Principal


async def get_target(
    security_scopes: SecurityScopes,
    user_id: Annotated[int, Path(description="The user's id")],
    principal: Annotated[Principal, Depends(authenticate)],
    accounts: AccountsDep,
) -> Target:
    """Oneself, with the route's own-account scopes (or an admin's `users:`
    ones); or anyone, for an admin with the `users:` scopes.

    Others get 403 whether or not the id exists, so ids cannot be probed.
    """
    on_others = [scopes.ON_OTHERS[scope] for scope in security_scopes.scopes]
    if principal.user.id == user_id:
        if not (principal.user.is_superuser and principal.scopes.issuperset(on_others)):
            require_scopes(principal, security_scopes.scopes)
        return Target(UserPublic.model_validate(principal.user), principal)
    require_admin(principal, on_others)
    user = await accounts.get(user_id)
    if user is None:
        raise DomainError(Problem.NO_SUCH_USER)
    return Target(UserPublic.model_validate(user), principal)


ReadTarget = Annotated[Target, Security(get_target, scopes=[scopes.PROFILE_READ])]
WriteTarget = Annotated[Target, Security(get_target, scopes=[scopes.PROFILE_WRITE])]
SessionsReadTarget = Annotated[Target, Security(get_target, scopes=[scopes.SESSIONS_READ])]
SessionsWriteTarget = Annotated[Target, Security(get_target, scopes=[scopes.SESSIONS_WRITE])]
EventsReadTarget = Annotated[Target, Security(get_target, scopes=[scopes.EVENTS_READ])]
