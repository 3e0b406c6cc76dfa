"""The error vocabulary and the one envelope every 4xx and 5xx is sent in."""

import logging
import sqlite3
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

import psycopg2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from limits.errors import StorageError
from sqlalchemy import exc as sqlalchemy_errors
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger("service.errors")

# Every way the database (or Redis) can be out of reach: a 503, never a 500.
# SQLAlchemy's wrapped errors first; then, as a safety net, the drivers' own
# classes, for a driver call SQLAlchemy did not wrap. Not IntegrityError,
# ProgrammingError and the like: those are bugs, and stay 500s.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    sqlalchemy_errors.OperationalError,
    sqlalchemy_errors.InterfaceError,
    sqlalchemy_errors.DisconnectionError,
    sqlalchemy_errors.TimeoutError,
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
    sqlite3.OperationalError,
    StorageError,
)


class ErrorCode(StrEnum):
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
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
    INTERNAL_ERROR = "internal_error"
    SERVICE_UNAVAILABLE = "service_unavailable"


class OAuthError(StrEnum):
    """RFC 6749 section 5.2 codes, sent beside `errors` by the token endpoints."""

    INVALID_GRANT = "invalid_grant"
    INVALID_REQUEST = "invalid_request"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"


# Route names of the OAuth2 token endpoints, whose errors also carry `error`.
TOKEN_ROUTE_NAMES = frozenset({"login", "refresh"})


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


class ApiError(Exception):
    """An outcome a client is told about, raised anywhere below the routes."""

    def __init__(
        self,
        status_code: int,
        code: ErrorCode,
        message: str,
        field: str | None = None,
        *,
        oauth_error: OAuthError | None = None,
        headers: dict[str, str] | None = None,
        more: Sequence[dict[str, Any]] = (),
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.errors = [entry(code, message, field), *more]
        self.oauth_error = oauth_error
        self.headers = headers


_STATUS_CODES = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.NOT_AUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.REQUEST_TOO_LARGE,
    503: ErrorCode.SERVICE_UNAVAILABLE,
}
_STATUS_MESSAGES = {
    404: "Not found",
    405: "Method not allowed",
}
_LOCATIONS = {"body", "query", "path", "header", "cookie"}
# What FastAPI says when a body cannot be decoded at all.
_FASTAPI_BODY_PARSE_DETAIL = "There was an error parsing the body"


def validation_entries(errors: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per invalid field; a weak password gives one per broken rule."""
    entries: list[dict[str, Any]] = []
    seen: set[str | None] = set()
    for error in errors:
        kind = error.get("type", "")
        loc = [part for part in error.get("loc", ()) if part not in _LOCATIONS]
        field = ".".join(str(part) for part in loc) or None
        if kind == "json_invalid":
            field = None
        if field in seen:
            continue
        seen.add(field)
        if kind == ErrorCode.WEAK_PASSWORD:
            problems = (error.get("ctx") or {}).get("problems") or [error.get("msg", "")]
            entries.extend(entry(ErrorCode.WEAK_PASSWORD, msg, field) for msg in problems)
            continue
        entries.append(entry(_validation_code(kind), _validation_message(error), field))
    return entries


def _validation_code(kind: str) -> ErrorCode:
    if kind == "missing":
        return ErrorCode.FIELD_REQUIRED
    if kind == "json_invalid":
        return ErrorCode.INVALID_JSON
    if kind == ErrorCode.INVALID_EMAIL:
        return ErrorCode.INVALID_EMAIL
    return ErrorCode.INVALID_VALUE


def _validation_message(error: dict[str, Any]) -> str:
    if error.get("type") == "json_invalid":
        return "The body is not valid JSON"
    if error.get("type") == "extra_forbidden":
        return "Unknown field"
    return str(error.get("msg", "Invalid value"))


def _oauth_error_for(request: Request, status_code: int) -> OAuthError | None:
    route = request.scope.get("route")
    if getattr(route, "name", None) not in TOKEN_ROUTE_NAMES:
        return None
    return {
        400: OAuthError.INVALID_REQUEST,
        401: OAuthError.INVALID_GRANT,
        422: OAuthError.INVALID_REQUEST,
    }.get(status_code)


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return error_response(
        exc.status_code, exc.errors, oauth_error=exc.oauth_error, headers=exc.headers
    )


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400 and exc.detail == _FASTAPI_BODY_PARSE_DETAIL:
        # A body that is not even text (bad UTF-8) is as malformed as broken JSON.
        return error_response(
            422,
            [entry(ErrorCode.INVALID_JSON, "The body is not valid JSON")],
            oauth_error=_oauth_error_for(request, 422),
        )
    code = _STATUS_CODES.get(exc.status_code, ErrorCode.BAD_REQUEST)
    message = _STATUS_MESSAGES.get(exc.status_code) or str(exc.detail)
    return error_response(
        exc.status_code,
        [entry(code, message)],
        oauth_error=_oauth_error_for(request, exc.status_code),
        headers=dict(exc.headers or {}),
    )


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return error_response(
        422,
        validation_entries(exc.errors()),
        oauth_error=_oauth_error_for(request, 422),
    )


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # Only the driver's first line: SQLAlchemy's own message carries the
    # statement's parameters, which may be password hashes.
    reason = getattr(exc, "orig", None) or exc
    # Redis holds only the throttling counters: name what is down.
    what = "throttling store" if isinstance(exc, StorageError) else "database"
    logger.warning(
        "%s unavailable request_id=%s: %s: %s",
        what,
        request.scope.get("state", {}).get("request_id"),
        type(reason).__name__,
        str(reason).strip().splitlines()[0][:200] if str(reason).strip() else "",
    )
    return error_response(
        503,
        [entry(ErrorCode.SERVICE_UNAVAILABLE, "The service is temporarily unavailable")],
        headers={"Retry-After": "5"},
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error(
        "unhandled error request_id=%s %s %s",
        request.scope.get("state", {}).get("request_id"),
        request.method,
        request.url.path,
        exc_info=exc,
    )
    return error_response(500, [entry(ErrorCode.INTERNAL_ERROR, "Internal server error")])


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for error_class in UNAVAILABLE_ERRORS:
        app.add_exception_handler(error_class, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected_error)
