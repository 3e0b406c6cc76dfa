"""The error responses each route declares in the OpenAPI document."""

from http import HTTPStatus
from typing import Any, NamedTuple

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service.errors import ErrorCode, OAuthError
from service.schemas import ErrorEnvelope, OAuthErrorEnvelope


class Documented(NamedTuple):
    status: int
    code: ErrorCode
    message: str
    field: str | None = None


NOT_AUTHENTICATED = Documented(401, ErrorCode.NOT_AUTHENTICATED, "Not authenticated")
INVALID_TOKEN = Documented(401, ErrorCode.INVALID_TOKEN, "The token is invalid or has been revoked")
TOKEN_EXPIRED = Documented(401, ErrorCode.TOKEN_EXPIRED, "The token has expired")
FORBIDDEN = Documented(403, ErrorCode.FORBIDDEN, "Not allowed")
NOT_FOUND = Documented(404, ErrorCode.NOT_FOUND, "No such user")
EMAIL_TAKEN = Documented(409, ErrorCode.EMAIL_TAKEN, "An account with this email exists", "email")
LAST_SUPERUSER = Documented(
    409,
    ErrorCode.LAST_SUPERUSER,
    "The last active superuser cannot be demoted, deactivated or deleted",
)
TOO_LARGE = Documented(
    413, ErrorCode.REQUEST_TOO_LARGE, "The request body must be at most 65536 bytes"
)
INVALID_VALUE = Documented(422, ErrorCode.INVALID_VALUE, "Input should be a valid integer", "limit")
FIELD_REQUIRED = Documented(422, ErrorCode.FIELD_REQUIRED, "Field required", "email")
INVALID_EMAIL = Documented(422, ErrorCode.INVALID_EMAIL, "Not a valid email address: ...", "email")
WEAK_PASSWORD = Documented(
    422, ErrorCode.WEAK_PASSWORD, "Password must be at least 8 characters", "password"
)
INVALID_CURRENT_PASSWORD = Documented(
    403, ErrorCode.INVALID_CURRENT_PASSWORD, "The current password is wrong", "current_password"
)
RATE_LIMITED = Documented(429, ErrorCode.RATE_LIMITED, "Too many attempts; try again in 60 seconds")
INTERNAL = Documented(500, ErrorCode.INTERNAL_ERROR, "Internal server error")
UNAVAILABLE = Documented(
    503, ErrorCode.SERVICE_UNAVAILABLE, "The service is temporarily unavailable"
)
SIGNED_IN = (NOT_AUTHENTICATED, INVALID_TOKEN, TOKEN_EXPIRED)
ALWAYS = (INVALID_VALUE, INTERNAL, UNAVAILABLE)
WITH_BODY = (TOO_LARGE, *ALWAYS)

_OAUTH_ERRORS = {
    400: OAuthError.UNSUPPORTED_GRANT_TYPE,
    401: OAuthError.INVALID_GRANT,
    422: OAuthError.INVALID_REQUEST,
}


def error_responses(*documented: Documented, oauth: bool = False) -> dict[int | str, Any]:
    """`responses=` for a route: each status with the envelope and one example per code."""
    responses: dict[int | str, Any] = {}
    for item in documented:
        oauth_error = _OAUTH_ERRORS.get(item.status) if oauth else None
        response = responses.setdefault(
            item.status,
            {
                "model": OAuthErrorEnvelope if oauth_error else ErrorEnvelope,
                "description": HTTPStatus(item.status).phrase,
                "content": {"application/json": {"examples": {}}},
            },
        )
        body: dict[str, Any] = {
            "errors": [{"code": item.code.value, "message": item.message, "field": item.field}]
        }
        if oauth_error:
            body["error"] = oauth_error.value
        response["content"]["application/json"]["examples"][item.code.value] = {"value": body}
    return responses


def install_openapi(app: FastAPI) -> None:
    """Serve the document with `"field": null` kept in the error examples.

    FastAPI drops every null while it builds the document, examples included,
    which would show clients an envelope entry without its `field`.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    _restore_null_fields(operation)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _restore_null_fields(operation: dict[str, Any]) -> None:
    for response in operation.get("responses", {}).values():
        examples = response.get("content", {}).get("application/json", {}).get("examples", {})
        for example in examples.values():
            for item in example.get("value", {}).get("errors", []):
                item.setdefault("field", None)
