"""The error responses each route declares in the OpenAPI document."""

from http import HTTPStatus
from typing import Any, Literal, NamedTuple

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from service.config import Settings
from service.errors import PROBLEMS, KeepPlaceholders, oauth_error_of
from service.problems import Problem
from service.scopes import ON_OTHERS


class ErrorEntry(BaseModel):
    code: str = Field(examples=["weak_password"])
    message: str = Field(examples=["Password must be at least 8 characters"])
    field: str | None = Field(examples=["password"])


class ErrorEnvelope(BaseModel):
    """The one shape of every 4xx and 5xx, as the OpenAPI document shows it."""

    errors: list[ErrorEntry]


class OAuthErrorEnvelope(ErrorEnvelope):
    error: Literal["invalid_grant", "invalid_request", "unsupported_grant_type", "invalid_scope"]


class Documented(NamedTuple):
    """A problem as one route tells it, where its field is the route's own."""

    problem: Problem
    field: str | None = None


SIGNED_IN = (
    Problem.NOT_AUTHENTICATED,
    Problem.TOKEN_INVALID,
    Problem.TOKEN_EXPIRED,
    Problem.INSUFFICIENT_SCOPE,
)
ALWAYS = (Problem.INVALID_VALUE, Problem.INTERNAL_ERROR, Problem.SERVICE_UNAVAILABLE)
WITH_BODY = (Problem.REQUEST_TOO_LARGE, *ALWAYS)


def error_responses(*documented: Problem | Documented, oauth: bool = False) -> dict[int | str, Any]:
    """`responses=` for a route: each status with the envelope and one example
    per code, in the words errors.PROBLEMS answers with."""
    responses: dict[int | str, Any] = {}
    for item in documented:
        problem, field = item if isinstance(item, Documented) else (item, None)
        spec = PROBLEMS[problem]
        oauth_error = oauth_error_of(spec) if oauth else None
        response = responses.setdefault(
            spec.status,
            {
                "model": OAuthErrorEnvelope if oauth_error else ErrorEnvelope,
                "description": HTTPStatus(spec.status).phrase,
                "content": {"application/json": {"examples": {}}},
            },
        )
        example = dict(spec.example)
        field = field or spec.field or example.pop("field", None)
        # Placeholders no example fills are the settings', filled when the document is built.
        message = spec.message.format_map(KeepPlaceholders(example))
        body: dict[str, Any] = {
            "errors": [{"code": spec.code.value, "message": message, "field": field}]
        }
        if oauth_error:
            body["error"] = oauth_error.value
        response["content"]["application/json"]["examples"][spec.code.value] = {"value": body}
    return responses


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """Serve the document with `"field": null` kept in the error examples, and
    the limits in their messages this deployment's.

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
            for path, operations in document.get("paths", {}).items():
                for operation in operations.values():
                    _complete_examples(operation, _limits(settings))
                    _document_ratelimit_headers(operation)
                    if path.startswith("/users/{user_id}"):
                        _document_admin_alternative(operation)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _limits(settings: Settings) -> dict[str, object]:
    return {"max_bytes": settings.max_body_bytes, "min_length": settings.password_min_length}


def _complete_examples(operation: dict[str, Any], limits: dict[str, object]) -> None:
    for response in operation.get("responses", {}).values():
        examples = response.get("content", {}).get("application/json", {}).get("examples", {})
        for example in examples.values():
            for item in example.get("value", {}).get("errors", []):
                item.setdefault("field", None)
                item["message"] = item["message"].format_map(KeepPlaceholders(limits))


# draft-ietf-httpapi-ratelimit-headers-09, as ratelimit_headers.py writes them.
RATELIMIT_HEADERS = {
    "RateLimit-Policy": {
        "description": "This client's own limits of the route (quota `q`, window `w`"
        " in seconds), on every answer of a request that was counted",
        "schema": {"type": "string"},
        "example": '"login";q=100;w=3600',
    },
    "RateLimit": {
        "description": "What is left of each policy (`r`) and the seconds until its"
        " window restarts (`t`), after this request",
        "schema": {"type": "string"},
        "example": '"login";r=99;t=3600',
    },
}


def _document_ratelimit_headers(operation: dict[str, Any]) -> None:
    """A route that can answer 429 is throttled: its success and its 429
    carry the RateLimit headers (the other answers of a counted request too)."""
    responses = operation.get("responses", {})
    if "429" not in responses:
        return
    for status, response in responses.items():
        if status.startswith("2") or status == "429":
            response.setdefault("headers", {}).update(RATELIMIT_HEADERS)


def _document_admin_alternative(operation: dict[str, Any]) -> None:
    """A `/users/{user_id}` route takes its own-account scope, or an admin's
    `users:` one (deps.get_target): OpenAPI lists each as a requirement, any
    one of which will do. `Security(...)` can declare only the first."""
    alternatives = [
        {scheme: [ON_OTHERS[scope] for scope in needed]}
        for requirement in operation.get("security", [])
        for scheme, needed in requirement.items()
        if needed and all(scope in ON_OTHERS for scope in needed)
    ]
    operation["security"] = [*operation.get("security", []), *alternatives]
