"""The exception handlers: every failure, raised anywhere, answered in the
envelope as errors.PROBLEMS says."""

import logging
import sqlite3
from collections.abc import Iterable
from typing import Any

import psycopg2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from limits.errors import StorageError
from sqlalchemy import exc as sqlalchemy_errors
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.errors import (
    PROBLEMS,
    TOKEN_ROUTE_NAMES,
    ErrorCode,
    OAuthError,
    entry,
    error_response,
    oauth_error_of,
    problem_response,
)
from service.problems import DomainError, Problem

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


_STATUS_PROBLEMS = {
    400: Problem.BAD_REQUEST,
    401: Problem.NOT_AUTHENTICATED,
    403: Problem.FORBIDDEN,
    404: Problem.NOT_FOUND,
    405: Problem.METHOD_NOT_ALLOWED,
    413: Problem.REQUEST_TOO_LARGE,
    503: Problem.SERVICE_UNAVAILABLE,
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


def _is_token_route(request: Request) -> bool:
    return getattr(request.scope.get("route"), "name", None) in TOKEN_ROUTE_NAMES


def _respond(request: Request, error: DomainError) -> JSONResponse:
    return problem_response(error, token_route=_is_token_route(request))


async def _domain_error(request: Request, exc: DomainError) -> JSONResponse:
    return _respond(request, exc)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400 and exc.detail == _FASTAPI_BODY_PARSE_DETAIL:
        # A body that is not even text (bad UTF-8) is as malformed as broken JSON.
        return _respond(request, DomainError(Problem.INVALID_JSON))
    problem = _STATUS_PROBLEMS.get(exc.status_code, Problem.BAD_REQUEST)
    spec = PROBLEMS[problem]
    # Starlette's words for a missing route or method are not ours; the rest
    # (a 413 met while reading the body) carry the message they were raised with.
    message = spec.message if problem in _OWN_WORDS else str(exc.detail)
    return error_response(
        exc.status_code,
        [entry(spec.code, message)],
        oauth_error=oauth_error_of(spec) if _is_token_route(request) else None,
        headers=dict(exc.headers or {}),
    )


_OWN_WORDS = frozenset({Problem.NOT_FOUND, Problem.METHOD_NOT_ALLOWED})


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return error_response(
        422,
        validation_entries(exc.errors()),
        oauth_error=OAuthError.INVALID_REQUEST if _is_token_route(request) else None,
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
    return problem_response(DomainError(Problem.SERVICE_UNAVAILABLE))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error(
        "unhandled error request_id=%s %s %s",
        request.scope.get("state", {}).get("request_id"),
        request.method,
        request.url.path,
        exc_info=exc,
    )
    return problem_response(DomainError(Problem.INTERNAL_ERROR))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for error_class in UNAVAILABLE_ERRORS:
        app.add_exception_handler(error_class, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected_error)
