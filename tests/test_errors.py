"""The one error envelope, on every kind of failure, and the headers every response carries."""

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.helpers import STRONG_PASSWORD, Account, assert_envelope, assert_error

pytestmark = pytest.mark.sqlite_only

OVER_64_KIB = 64 * 1024 + 1


def oversized_signup() -> dict[str, Any]:
    return {"email": "ada@example.com", "password": STRONG_PASSWORD, "full_name": "x" * 70_000}


def test_unknown_route_is_404_not_found(client: TestClient) -> None:
    response = client.get("/no/such/route")

    assert_error(response, 404, "not_found", None)


def test_unknown_route_with_token_is_404_not_found(client: TestClient, user: Account) -> None:
    response = client.get("/no/such/route", headers=user.headers)

    assert_error(response, 404, "not_found", None)


def test_wrong_method_is_405_method_not_allowed_with_allow_header(client: TestClient) -> None:
    response = client.delete("/health")

    assert_error(response, 405, "method_not_allowed", None)
    assert "GET" in response.headers["allow"]


def test_wrong_method_on_token_endpoint_is_405(client: TestClient) -> None:
    response = client.get("/login")

    assert response.status_code == 405
    assert "POST" in response.headers["allow"]
    assert assert_envelope(response, oauth_error=response.json().get("error"))[0]["code"] == (
        "method_not_allowed"
    )


def test_malformed_json_is_422_invalid_json(client: TestClient) -> None:
    response = client.post(
        "/users",
        content=b'{"email": "ada@example.com",',
        headers={"content-type": "application/json"},
    )

    entries = assert_error(response, 422, "invalid_json", None)
    assert len(entries) == 1


def test_malformed_json_on_refresh_is_422_invalid_json_with_invalid_request(
    client: TestClient,
) -> None:
    response = client.post(
        "/refresh", content=b"{not json", headers={"content-type": "application/json"}
    )

    assert_error(response, 422, "invalid_json", None, oauth_error="invalid_request")


def test_validation_error_lists_every_invalid_field_once(client: TestClient) -> None:
    response = client.post(
        "/users", json={"email": "not-an-email", "password": STRONG_PASSWORD, "full_name": 5}
    )

    entries = assert_error(response, 422, "invalid_email", "email")
    fields = [entry["field"] for entry in entries]
    assert sorted(fields) == ["email", "full_name"]


def test_body_over_64_kib_is_413_request_too_large(client: TestClient) -> None:
    response = client.post("/users", json=oversized_signup())

    assert_error(response, 413, "request_too_large", None)


def test_streamed_body_over_64_kib_is_413_request_too_large(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        body = json.dumps(oversized_signup()).encode()
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    response = client.post("/users", content=chunks(), headers={"content-type": "application/json"})

    assert_error(response, 413, "request_too_large", None)


def test_oversized_body_creates_no_user(client: TestClient) -> None:
    client.post("/users", json=oversized_signup())

    assert (
        client.post(
            "/login", data={"username": "ada@example.com", "password": STRONG_PASSWORD}
        ).status_code
        == 401
    )


def test_oversized_login_form_is_413(client: TestClient) -> None:
    response = client.post(
        "/login", data={"username": "ada@example.com", "password": "x" * OVER_64_KIB}
    )

    assert response.status_code == 413
    assert_envelope(response, oauth_error=response.json().get("error"))


def test_body_under_the_limit_is_not_413(client: TestClient) -> None:
    body = {"email": "ada@example.com", "password": STRONG_PASSWORD, "full_name": "x" * 60_000}

    response = client.post("/users", json=body)

    assert_error(response, 422, "invalid_value", "full_name")


def test_body_limit_follows_max_body_bytes(make_client: Callable[..., TestClient]) -> None:
    small_client = make_client(max_body_bytes=2048)

    response = small_client.post(
        "/users",
        json={"email": "ada@example.com", "password": STRONG_PASSWORD, "full_name": "x" * 3000},
    )

    assert_error(response, 413, "request_too_large", None)


@pytest.fixture
def failing_app(app: FastAPI) -> FastAPI:
    async def explode() -> None:
        raise RuntimeError("secret-internal-detail")

    app.add_api_route("/explode", explode, methods=["GET"])
    return app


def test_unexpected_failure_is_500_internal_error(failing_app: FastAPI) -> None:
    with TestClient(failing_app, raise_server_exceptions=False) as client:
        response = client.get("/explode")

    assert_error(response, 500, "internal_error", None)


def test_unexpected_failure_reveals_nothing_internal(failing_app: FastAPI) -> None:
    with TestClient(failing_app, raise_server_exceptions=False) as client:
        response = client.get("/explode")

    assert "secret-internal-detail" not in response.text
    assert "RuntimeError" not in response.text
    assert "Traceback" not in response.text


def test_unexpected_failure_carries_a_request_id(failing_app: FastAPI) -> None:
    with TestClient(failing_app, raise_server_exceptions=False) as client:
        response = client.get("/explode", headers={"X-Request-ID": "trace-500"})

    assert response.headers["x-request-id"] == "trace-500"


def test_unexpected_failure_logs_the_traceback_with_the_request_id(
    failing_app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(failing_app, raise_server_exceptions=False) as client:
        client.get("/explode", headers={"X-Request-ID": "trace-logged"})

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "trace-logged" in logged
    assert any(
        record.exc_info and "secret-internal-detail" in str(record.exc_info[1])
        for record in caplog.records
    )


def test_error_responses_are_json(client: TestClient) -> None:
    response = client.get("/no/such/route")

    assert response.headers["content-type"].startswith("application/json")


UNAUTHENTICATED_REQUESTS = [
    ("GET", "/users/me", {}),
    ("GET", "/users/me", {"Authorization": "Bearer not-a-token"}),
    ("GET", "/users/me", {"Authorization": "Basic YWRhOnB3"}),
    ("PATCH", "/users/me", {}),
    ("DELETE", "/users/me", {}),
    ("POST", "/users/me/password", {}),
    ("POST", "/logout/all", {}),
    ("GET", "/users", {}),
    ("GET", "/users/1", {}),
    ("PUT", "/users/1", {}),
    ("PATCH", "/users/1", {}),
    ("DELETE", "/users/1", {}),
]


@pytest.mark.parametrize(("method", "path", "headers"), UNAUTHENTICATED_REQUESTS)
def test_every_401_has_www_authenticate_bearer(
    client: TestClient, method: str, path: str, headers: dict[str, str]
) -> None:
    response = client.request(method, path, headers=headers, json={})

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert_envelope(response)


def test_401_of_a_refused_token_names_invalid_token_in_www_authenticate(
    client: TestClient,
) -> None:
    response = client.get("/users/me", headers={"Authorization": "Bearer not-a-token"})

    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_401_of_token_endpoints_has_www_authenticate_bearer(client: TestClient) -> None:
    login = client.post("/login", data={"username": "x@example.com", "password": STRONG_PASSWORD})
    refresh = client.post("/refresh", json={"refresh_token": "garbage"})

    assert login.headers["www-authenticate"].startswith("Bearer")
    assert refresh.headers["www-authenticate"].startswith("Bearer")


ERROR_REQUESTS = [
    ("unknown_route", "GET", "/nowhere", {}, 404),
    ("wrong_method", "PATCH", "/health", {}, 405),
    (
        "invalid_json",
        "POST",
        "/users",
        {"content": b"{", "headers": {"content-type": "application/json"}},
        422,
    ),
    ("invalid_email", "POST", "/users", {"json": {"email": "x", "password": STRONG_PASSWORD}}, 422),
    ("weak_password", "POST", "/users", {"json": {"email": "a@example.com", "password": "1"}}, 422),
    ("too_large", "POST", "/users", {"json": oversized_signup()}, 413),
    ("no_token", "GET", "/users/me", {}, 401),
    ("logout_missing_field", "POST", "/logout", {"json": {}}, 422),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [request[1:] for request in ERROR_REQUESTS],
    ids=[request[0] for request in ERROR_REQUESTS],
)
def test_non_token_route_error_body_has_exactly_the_errors_key(
    client: TestClient, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    response = client.request(method, path, **kwargs)

    assert response.status_code == status
    assert_envelope(response)


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    response = client.get("/health")

    assert response.headers["x-request-id"]


def test_error_responses_carry_a_request_id(client: TestClient) -> None:
    response = client.get("/nowhere")

    assert response.headers["x-request-id"]


def test_each_request_gets_its_own_request_id(client: TestClient) -> None:
    first = client.get("/health").headers["x-request-id"]
    second = client.get("/health").headers["x-request-id"]

    assert first != second


def test_sane_client_request_id_is_echoed(client: TestClient) -> None:
    response = client.get("/health", headers={"X-Request-ID": "abc-123.def_456"})

    assert response.headers["x-request-id"] == "abc-123.def_456"


@pytest.mark.parametrize("request_id", ["has spaces and <html>", "x" * 1000, 'quote"s'])
def test_insane_client_request_id_is_replaced(client: TestClient, request_id: str) -> None:
    response = client.get("/health", headers={"X-Request-ID": request_id})

    assert response.headers["x-request-id"]
    assert response.headers["x-request-id"] != request_id
