"""How each problem is told over HTTP: the one table (PROBLEMS) from a problem
to its status, code, message, OAuth error and headers, and the one envelope
every 4xx and 5xx is sent in. The handlers that apply it are error_handlers.py's."""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastapi.responses import JSONResponse

from service.problems import DomainError, Problem


class ErrorCode(StrEnum):
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    INVALID_SCOPE = "invalid_scope"
    INSUFFICIENT_SCOPE = "insufficient_scope"
    INVALID_CREDENTIALS = "invalid_credentials"
    EMAIL_NOT_VERIFIED = "email_not_verified"
    NOT_AUTHENTICATED = "not_authenticated"
    INVALID_TOKEN = "invalid_token"
    TOKEN_EXPIRED = "token_expired"
    FORBIDDEN = "forbidden"
    INVALID_CURRENT_PASSWORD = "invalid_current_password"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    EMAIL_TAKEN = "email_taken"
    LAST_SUPERUSER = "last_superuser"
    REQUEST_TOO_LARGE = "request_too_large"
    RATE_LIMITED = "rate_limited"
    FIELD_REQUIRED = "field_required"
    INVALID_EMAIL = "invalid_email"
    WEAK_PASSWORD = "weak_password"
    INVALID_JSON = "invalid_json"
    INVALID_VALUE = "invalid_value"
    BAD_REQUEST = "bad_request"
    CORS_REJECTED = "cors_rejected"
    ORIGIN_REFUSED = "origin_refused"
    CSRF_FAILED = "csrf_failed"
    INTERNAL_ERROR = "internal_error"
    SERVICE_UNAVAILABLE = "service_unavailable"


class OAuthError(StrEnum):
    """RFC 6749 section 5.2 codes, sent beside `errors` by the token endpoints."""

    INVALID_GRANT = "invalid_grant"
    INVALID_REQUEST = "invalid_request"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    INVALID_SCOPE = "invalid_scope"


@dataclass(frozen=True)
class Spec:
    """How a problem is told: `message` and the header values are templates
    filled from the error's params (the documented example uses `example`)."""

    status: int
    code: ErrorCode
    message: str
    field: str | None = None
    oauth_error: OAuthError | None = None
    headers: tuple[tuple[str, str], ...] = ()
    example: tuple[tuple[str, object], ...] = ()


_REJECTED_TOKEN = (("WWW-Authenticate", 'Bearer error="invalid_token"'),)
_RETRY_SOON = (("Retry-After", "5"),)

# The one place each error's status, code, message and headers are written.
# Where the words come from elsewhere (pydantic, a password rule), the
# message here is the documented example.
PROBLEMS: dict[Problem, Spec] = {
    Problem.NOT_AUTHENTICATED: Spec(401, ErrorCode.NOT_AUTHENTICATED, "Not authenticated"),
    Problem.INVALID_CREDENTIALS: Spec(
        401, ErrorCode.INVALID_CREDENTIALS, "Incorrect email or password"
    ),
    Problem.EMAIL_NOT_VERIFIED: Spec(
        401,
        ErrorCode.EMAIL_NOT_VERIFIED,
        "Confirm your email address first: a new link has been sent to it",
    ),
    Problem.TOKEN_INVALID: Spec(
        401,
        ErrorCode.INVALID_TOKEN,
        "The token is invalid or has been revoked",
        headers=_REJECTED_TOKEN,
    ),
    Problem.TOKEN_EXPIRED: Spec(
        401, ErrorCode.TOKEN_EXPIRED, "The token has expired", headers=_REJECTED_TOKEN
    ),
    Problem.UNSUPPORTED_GRANT_TYPE: Spec(
        400,
        ErrorCode.UNSUPPORTED_GRANT_TYPE,
        "grant_type must be password or refresh_token",
        "grant_type",
        oauth_error=OAuthError.UNSUPPORTED_GRANT_TYPE,
    ),
    # The unknown names are not repeated back: they are the client's own input.
    Problem.UNKNOWN_SCOPE: Spec(
        400,
        ErrorCode.INVALID_SCOPE,
        "scope names a scope this service does not have; it has: {known}",
        "scope",
        oauth_error=OAuthError.INVALID_SCOPE,
        example=(("known", "events:read profile:read profile:write"),),
    ),
    Problem.SCOPE_NOT_ALLOWED: Spec(
        400,
        ErrorCode.INVALID_SCOPE,
        "This account may have none of the scopes asked for; it may have: {allowed}",
        "scope",
        oauth_error=OAuthError.INVALID_SCOPE,
        example=(("allowed", "events:read profile:read profile:write"),),
    ),
    # RFC 6750 3.1: the challenge names the scope the request needed.
    Problem.INSUFFICIENT_SCOPE: Spec(
        403,
        ErrorCode.INSUFFICIENT_SCOPE,
        "This token was not granted the scope this needs: {scope}",
        headers=(("WWW-Authenticate", 'Bearer error="insufficient_scope", scope="{scope}"'),),
        example=(("scope", "users:write"),),
    ),
    Problem.RATE_LIMITED: Spec(
        429,
        ErrorCode.RATE_LIMITED,
        "Too many attempts; try again in {retry_after} seconds",
        headers=(("Retry-After", "{retry_after}"),),
        example=(("retry_after", 60),),
    ),
    Problem.ACCOUNT_TOKEN_INVALID: Spec(
        400, ErrorCode.INVALID_TOKEN, "The link is invalid, expired or already used", "token"
    ),
    Problem.FORBIDDEN: Spec(403, ErrorCode.FORBIDDEN, "Not allowed"),
    Problem.ORIGIN_REFUSED: Spec(
        403,
        ErrorCode.ORIGIN_REFUSED,
        "Cookie logins are used only from this service's origin and CORS_ORIGINS",
    ),
    Problem.CSRF_FAILED: Spec(
        403,
        ErrorCode.CSRF_FAILED,
        "Send this session's CSRF token in the X-CSRF-Token header",
    ),
    Problem.NO_SUCH_USER: Spec(404, ErrorCode.NOT_FOUND, "No such user"),
    Problem.NO_SUCH_SESSION: Spec(404, ErrorCode.NOT_FOUND, "No such session"),
    Problem.EMAIL_TAKEN: Spec(
        409, ErrorCode.EMAIL_TAKEN, "An account with this email exists", "email"
    ),
    Problem.LAST_SUPERUSER: Spec(
        409,
        ErrorCode.LAST_SUPERUSER,
        "The last active superuser cannot be demoted, deactivated or deleted",
    ),
    Problem.CURRENT_PASSWORD_REQUIRED: Spec(
        422,
        ErrorCode.FIELD_REQUIRED,
        "The current password is required for this change",
        "current_password",
    ),
    Problem.CURRENT_PASSWORD_WRONG: Spec(
        403, ErrorCode.INVALID_CURRENT_PASSWORD, "The current password is wrong", "current_password"
    ),
    Problem.WEAK_PASSWORD: Spec(
        422,
        ErrorCode.WEAK_PASSWORD,
        "Password must be at least {min_length} characters",
        example=(("field", "password"),),
    ),
    Problem.FIELD_REQUIRED: Spec(
        422, ErrorCode.FIELD_REQUIRED, "Field required", example=(("field", "email"),)
    ),
    Problem.SENT_TWICE: Spec(
        422, ErrorCode.INVALID_VALUE, "Must be sent once", example=(("field", "username"),)
    ),
    # /login's 422s predate the revocation endpoint; RFC 7009 says 400 for these.
    Problem.PARAMETER_MISSING: Spec(
        400,
        ErrorCode.FIELD_REQUIRED,
        "Field required",
        oauth_error=OAuthError.INVALID_REQUEST,
        example=(("field", "token"),),
    ),
    Problem.PARAMETER_REPEATED: Spec(
        400,
        ErrorCode.INVALID_VALUE,
        "Must be sent once",
        oauth_error=OAuthError.INVALID_REQUEST,
        example=(("field", "token"),),
    ),
    Problem.INVALID_VALUE: Spec(
        422,
        ErrorCode.INVALID_VALUE,
        "Input should be a valid integer",
        example=(("field", "limit"),),
    ),
    Problem.INVALID_EMAIL: Spec(
        422,
        ErrorCode.INVALID_EMAIL,
        "Not a valid email address: ...",
        example=(("field", "email"),),
    ),
    Problem.INVALID_JSON: Spec(422, ErrorCode.INVALID_JSON, "The body is not valid JSON"),
    Problem.BAD_REQUEST: Spec(400, ErrorCode.BAD_REQUEST, "Bad request"),
    Problem.REQUEST_TOO_LARGE: Spec(
        413,
        ErrorCode.REQUEST_TOO_LARGE,
        "The request body must be at most {max_bytes} bytes",
    ),
    Problem.NOT_FOUND: Spec(404, ErrorCode.NOT_FOUND, "Not found"),
    Problem.METHOD_NOT_ALLOWED: Spec(405, ErrorCode.METHOD_NOT_ALLOWED, "Method not allowed"),
    Problem.CORS_REJECTED: Spec(400, ErrorCode.CORS_REJECTED, "CORS request refused"),
    Problem.INTERNAL_ERROR: Spec(500, ErrorCode.INTERNAL_ERROR, "Internal server error"),
    Problem.SERVICE_UNAVAILABLE: Spec(
        503,
        ErrorCode.SERVICE_UNAVAILABLE,
        "The service is temporarily unavailable",
        headers=_RETRY_SOON,
    ),
    Problem.THROTTLING_STORE_DOWN: Spec(
        503,
        ErrorCode.SERVICE_UNAVAILABLE,
        "The throttling store ({store}) does not answer",
        headers=_RETRY_SOON,
        example=(("store", "Redis"),),
    ),
}

# Route names of the OAuth2 token endpoints, whose errors also carry `error`.
TOKEN_ROUTE_NAMES = frozenset({"login", "refresh", "revoke"})
# RFC 6749 5.2, for a token endpoint's error whose spec names none.
_OAUTH_BY_STATUS = {
    400: OAuthError.INVALID_REQUEST,
    401: OAuthError.INVALID_GRANT,
    422: OAuthError.INVALID_REQUEST,
}


class KeepPlaceholders(dict[str, object]):
    """Fills what it has of a message template and leaves the rest as it is."""

    def __missing__(self, name: str) -> str:
        return "{" + name + "}"


def oauth_error_of(spec: Spec) -> OAuthError | None:
    """The `error` a token endpoint sends with this spec's answer."""
    return spec.oauth_error or _OAUTH_BY_STATUS.get(spec.status)


def entry(code: ErrorCode, message: str, field: str | None = None) -> dict[str, Any]:
    return {"code": code.value, "message": message, "field": field}


def error_response(
    status_code: int,
    errors: Sequence[dict[str, Any]],
    *,
    oauth_error: OAuthError | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The only place an error body is built."""
    body: dict[str, Any] = {"errors": list(errors)}
    if oauth_error is not None:
        body["error"] = oauth_error.value
    headers = dict(headers or {})
    if status_code == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(body, status_code=status_code, headers=headers)


def entries_of(error: DomainError) -> list[dict[str, Any]]:
    spec = PROBLEMS[error.problem]
    fields = error.fields or (spec.field,)
    messages = error.messages or (spec.message.format_map(KeepPlaceholders(error.params)),)
    return [entry(spec.code, message, field) for field in fields for message in messages]


def problem_response(error: DomainError, *, token_route: bool = False) -> JSONResponse:
    """The answer to `error`, as PROBLEMS says; `token_route` adds the OAuth2 `error`."""
    spec = PROBLEMS[error.problem]
    return error_response(
        spec.status,
        entries_of(error),
        oauth_error=oauth_error_of(spec) if token_route else None,
        headers={
            name: value.format_map(KeepPlaceholders(error.params)) for name, value in spec.headers
        },
    )
