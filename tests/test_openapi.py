"""The OpenAPI document: reachable, OAuth2-aware, and honest about errors."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.config import Settings
from service.main import create_app

pytestmark = pytest.mark.sqlite_only

PROTECTED = [
    ("post", "/logout/all"),
    ("get", "/users"),
    ("get", "/users/me"),
    ("patch", "/users/me"),
    ("delete", "/users/me"),
    ("post", "/users/me/password"),
    ("get", "/users/{user_id}"),
    ("put", "/users/{user_id}"),
    ("patch", "/users/{user_id}"),
    ("delete", "/users/{user_id}"),
]
PUBLIC = [
    ("post", "/users"),
    ("post", "/login"),
    ("post", "/refresh"),
    ("post", "/logout"),
    ("get", "/health"),
    ("get", "/health/db"),
]
DATABASE = {"500", "503"}
EXPECTED_ERRORS: dict[tuple[str, str], set[str]] = {
    ("post", "/users"): {"409", "413", "422"} | DATABASE,
    ("post", "/login"): {"400", "401", "413", "422"} | DATABASE,
    ("post", "/refresh"): {"401", "413", "422"} | DATABASE,
    ("post", "/logout"): {"413", "422"} | DATABASE,
    ("post", "/logout/all"): {"401"} | DATABASE,
    ("get", "/users"): {"401", "403", "422"} | DATABASE,
    ("get", "/users/me"): {"401"} | DATABASE,
    ("patch", "/users/me"): {"401", "403", "409", "413", "422"} | DATABASE,
    ("delete", "/users/me"): {"401", "409"} | DATABASE,
    ("post", "/users/me/password"): {"401", "403", "413", "422"} | DATABASE,
    ("get", "/users/{user_id}"): {"401", "403", "404", "422"} | DATABASE,
    ("put", "/users/{user_id}"): {"401", "403", "404", "409", "413", "422"} | DATABASE,
    ("patch", "/users/{user_id}"): {"401", "403", "404", "409", "413", "422"} | DATABASE,
    ("delete", "/users/{user_id}"): {"401", "403", "404", "409", "422"} | DATABASE,
    ("get", "/health/db"): {"503"},
}


@pytest.fixture(scope="module")
def document(database_url: str) -> dict[str, Any]:
    # Built once: generating the document is the slowest part of these read-only checks.
    settings = Settings(database_url=database_url, bcrypt_rounds=4)
    with TestClient(create_app(settings)) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def error_responses(operation: dict[str, Any]) -> dict[str, Any]:
    return {status: body for status, body in operation["responses"].items() if status >= "400"}


def test_openapi_json_is_reachable(client: TestClient) -> None:
    response = client.get("/openapi.json")

    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")


def test_swagger_ui_is_reachable(client: TestClient) -> None:
    response = client.get("/docs")

    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "openapi.json" in response.text


def test_openapi_documents_every_route_of_the_contract(document: dict[str, Any]) -> None:
    documented = {(method, path) for method, path, _ in operations(document)}

    assert set(PROTECTED) | set(PUBLIC) <= documented


def test_login_is_the_oauth2_password_token_url(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"].values()

    token_urls = [
        scheme["flows"]["password"]["tokenUrl"]
        for scheme in schemes
        if scheme["type"] == "oauth2" and "password" in scheme.get("flows", {})
    ]
    assert [url.lstrip("/") for url in token_urls] == ["login"]


def test_login_takes_a_form(document: dict[str, Any]) -> None:
    content = document["paths"]["/login"]["post"]["requestBody"]["content"]

    assert "application/x-www-form-urlencoded" in content


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_protected_route_declares_the_oauth2_scheme(
    document: dict[str, Any], method: str, path: str
) -> None:
    security = document["paths"][path][method].get("security", [])

    assert any(document["components"]["securitySchemes"].keys() & entry for entry in security)


@pytest.mark.parametrize(("method", "path"), PUBLIC)
def test_public_route_declares_no_security(
    document: dict[str, Any], method: str, path: str
) -> None:
    assert not document["paths"][path][method].get("security")


@pytest.mark.parametrize(("method", "path"), sorted(EXPECTED_ERRORS))
def test_route_declares_its_error_responses(
    document: dict[str, Any], method: str, path: str
) -> None:
    declared = set(error_responses(document["paths"][path][method]))

    assert EXPECTED_ERRORS[(method, path)] <= declared


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", "/users/{user_id}"),
        ("patch", "/users/{user_id}"),
        ("delete", "/users/{user_id}"),
        ("delete", "/users/me"),
    ],
)
def test_routes_that_can_remove_a_superuser_document_last_superuser(
    document: dict[str, Any], method: str, path: str
) -> None:
    conflict = document["paths"][path][method]["responses"]["409"]

    assert "last_superuser" in conflict["content"]["application/json"]["examples"]


def test_every_declared_error_uses_the_envelope(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        for status, response in error_responses(operation).items():
            schema = resolve(document, response["content"]["application/json"]["schema"])
            assert "errors" in schema["properties"], (method, path, status)


def test_every_declared_error_has_an_example(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        for status, response in error_responses(operation).items():
            examples = response["content"]["application/json"].get("examples", {})
            assert examples, (method, path, status)
            assert all(example["value"]["errors"] for example in examples.values())


def test_error_examples_show_every_entry_key_even_a_null_field(document: dict[str, Any]) -> None:
    incomplete = [
        (method, path, status, entry)
        for method, path, operation in operations(document)
        for status, response in error_responses(operation).items()
        for example in response["content"]["application/json"].get("examples", {}).values()
        for entry in example["value"]["errors"]
        if set(entry) != {"code", "message", "field"}
    ]

    assert incomplete == []


@pytest.mark.parametrize(("method", "path"), [("post", "/login"), ("post", "/refresh")])
def test_token_endpoint_errors_document_the_oauth2_error_member(
    document: dict[str, Any], method: str, path: str
) -> None:
    responses = error_responses(document["paths"][path][method])

    for status in ("401", "422"):
        schema = resolve(document, responses[status]["content"]["application/json"]["schema"])
        assert "error" in schema["properties"], status


def test_fastapis_default_validation_error_shape_is_not_documented(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]

    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas


def test_user_schema_has_no_password_field(document: dict[str, Any]) -> None:
    response = document["paths"]["/users/me"]["get"]["responses"]["200"]
    schema = resolve(document, response["content"]["application/json"]["schema"])

    assert not [name for name in schema["properties"] if "password" in name or "hash" in name]


THROTTLED = [
    ("post", "/login"),
    ("post", "/refresh"),
    ("post", "/cookie/login"),
    ("post", "/cookie/refresh"),
    ("post", "/users"),
    ("post", "/password/forgot"),
    ("post", "/users/me/verify"),
    # Throttled when they ask for a new address (the email-change policy).
    ("patch", "/users/me"),
    ("put", "/users/{user_id}"),
    ("patch", "/users/{user_id}"),
]
RATELIMIT_HEADERS = {"RateLimit-Policy", "RateLimit"}


@pytest.mark.parametrize(("method", "path"), THROTTLED)
def test_throttled_route_documents_the_ratelimit_headers_on_its_success_and_its_429(
    document: dict[str, Any], method: str, path: str
) -> None:
    responses = document["paths"][path][method]["responses"]
    documented = {
        status: set(body.get("headers", {})) & RATELIMIT_HEADERS
        for status, body in responses.items()
        if status < "300" or status == "429"
    }

    assert len(documented) == 2
    assert all(names == RATELIMIT_HEADERS for names in documented.values())


def test_unthrottled_routes_document_no_ratelimit_headers(document: dict[str, Any]) -> None:
    throttled = {(method, path) for method, path in THROTTLED}
    documenting = {
        (method, path)
        for method, path, operation in operations(document)
        for body in operation["responses"].values()
        if set(body.get("headers", {})) & RATELIMIT_HEADERS
    }

    assert documenting == throttled
