"""Cookie logins for browser apps: which cookies hold a login and with what
attributes, and the checks an unsafe request authenticated by them must pass
(where it comes from, and the CSRF token bound to its login).

Scripts never see the tokens: both are HttpOnly. The CSRF token is the one
cookie a script may read, and the only one it must send back, in a header.
"""

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from service.config import Settings
from service.csrf import CsrfTokens
from service.login_values import IssuedTokens
from service.problems import DomainError, Problem

ACCESS_COOKIE = "access_token"
REFRESH_COOKIE = "refresh_token"
CSRF_COOKIE = "csrf_token"
CSRF_HEADER = "x-csrf-token"
# The refresh cookie goes only to the routes that spend or end it.
COOKIE_ROUTES = "/cookie"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Browsers keep Secure cookies from https only (and, for some, from
# http://localhost); in development over http on this machine, they are not Secure.
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class CookieLogins:
    """Built once in create_app from the settings; reached through `CookieLoginsDep`."""

    def __init__(self, settings: Settings) -> None:
        self.csrf = CsrfTokens(settings.signing_key)
        # Behind the platform's router, which ends TLS, a request reaches us
        # as http: the service's own public origin is the one PUBLIC_URL names.
        public = _origin_of(settings.public_url)
        self.allowed_origins = frozenset(
            [*settings.cors_origins, *([public.lower()] if public else [])]
        )
        self.production = settings.environment == "production"

    def secure(self, request: Request) -> bool:
        if self.production:
            return True
        return not (request.url.scheme == "http" and request.url.hostname in _LOOPBACK_HOSTS)

    def names(self, request: Request) -> tuple[str, str, str]:
        """The access, refresh and CSRF cookies' names for this request.

        `__Host-` pins a cookie to this host and path `/` and `__Secure-` to
        https, so a sibling subdomain or a plain-http page cannot plant one.
        The prefixes need Secure, so the development names go without.
        """
        if not self.secure(request):
            return ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE
        return f"__Host-{ACCESS_COOKIE}", f"__Secure-{REFRESH_COOKIE}", f"__Host-{CSRF_COOKIE}"

    def access_token(self, request: Request) -> str | None:
        return request.cookies.get(self.names(request)[0]) or None

    def refresh_token(self, request: Request) -> str | None:
        return request.cookies.get(self.names(request)[1]) or None

    def signed_in_refresh_token(self, request: Request) -> str:
        """The refresh cookie, for a route that needs a cookie login to act on."""
        token = self.refresh_token(request)
        if token is None:
            raise DomainError(Problem.NOT_AUTHENTICATED)
        return token

    def give(self, response: Response, request: Request, tokens: IssuedTokens) -> str:
        """Set the login's cookies on `response`; the CSRF token, for the body."""
        access, refresh, csrf = self.names(request)
        secure = self.secure(request)
        csrf_token = self.csrf.for_login(tokens.login_id)
        for name, value, max_age, path, http_only in (
            (access, tokens.access_token, tokens.expires_in, "/", True),
            (refresh, tokens.refresh_token, tokens.refresh_expires_in, COOKIE_ROUTES, True),
            (csrf, csrf_token, tokens.refresh_expires_in, "/", False),
        ):
            response.set_cookie(
                name,
                value,
                max_age=max_age,
                path=path,
                secure=secure,
                httponly=http_only,
                samesite="strict",
            )
        return csrf_token

    def clear(self, response: Response, request: Request) -> Response:
        access, refresh, csrf = self.names(request)
        secure = self.secure(request)
        for name, path, http_only in (
            (access, "/", True),
            (refresh, COOKIE_ROUTES, True),
            (csrf, "/", False),
        ):
            # The same attributes as when set: a browser keeps a __Host- cookie
            # whose removal lacks Secure or Path=/.
            response.delete_cookie(
                name, path=path, secure=secure, httponly=http_only, samesite="strict"
            )
        return response

    def check_origin(self, request: Request) -> None:
        """Refuse a cookie request that a page of another origin sent.

        `Origin`, or failing it `Referer`, must be this service's own origin
        (PUBLIC_URL's, or the one the request was sent to) or one of
        CORS_ORIGINS; a request that names neither is refused too.
        """
        origin = request.headers.get("origin") or _origin_of(request.headers.get("referer"))
        own = f"{request.url.scheme}://{request.url.netloc}".lower()
        if origin is None or (origin.lower() != own and origin.lower() not in self.allowed_origins):
            raise DomainError(Problem.ORIGIN_REFUSED)

    def check_csrf(self, request: Request, login_id: str) -> None:
        """The X-CSRF-Token header must equal the CSRF cookie, and both the
        token of the login the request is authenticated as."""
        header = request.headers.get(CSRF_HEADER, "")
        cookie = request.cookies.get(self.names(request)[2], "")
        if not header or header != cookie or not self.csrf.matches(login_id, cookie):
            raise DomainError(Problem.CSRF_FAILED)

    def check_unsafe(self, request: Request, login_id: str) -> None:
        if request.method not in SAFE_METHODS:
            self.check_origin(request)
            self.check_csrf(request, login_id)


def _origin_of(url: str | None) -> str | None:
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"
