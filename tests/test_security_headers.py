"""Security headers on every response, and CORS only for the configured origins."""

import os
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.helpers import STRONG_PASSWORD, Account, assert_error, auth_headers

pytestmark = pytest.mark.sqlite_only

EVERY_RESPONSE = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
API_RESPONSE = {
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "cache-control": "no-store",
}
DOCUMENTATION_PATHS = ["/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"]
ALLOWED_ORIGIN = "https://app.example.com"
OTHER_ORIGIN = "https://evil.example.net"

Call = Callable[[TestClient, Account], httpx.Response]

# One request for each kind of answer the API gives: successes of every route
# family, and every error status, the ones raised outside the routes included.
API_CALLS: dict[str, Call] = {
    "health 200": lambda c, a: c.get("/health"),
    "health/db 200": lambda c, a: c.get("/health/db"),
    "signup 201": lambda c, a: c.post(
        "/users", json={"email": "new@example.com", "password": STRONG_PASSWORD}
    ),
    "login 200": lambda c, a: c.post("/login", data={"username": a.email, "password": a.password}),
    "refresh 200": lambda c, a: c.post("/refresh", json={"refresh_token": a.refresh_token}),
    "me 200": lambda c, a: c.get("/users/me", headers=a.headers),
    "patch me 200": lambda c, a: c.patch("/users/me", json={"full_name": "A"}, headers=a.headers),
    "logout 204": lambda c, a: c.post("/logout", json={"refresh_token": a.refresh_token}),
    "bad grant 400": lambda c, a: c.post("/login", data={"grant_type": "magic"}),
    "login 401": lambda c, a: c.post("/login", data={"username": a.email, "password": "wrong-1"}),
    "no token 401": lambda c, a: c.get("/users/me"),
    "forbidden 403": lambda c, a: c.get("/users/999", headers=a.headers),
    "unknown route 404": lambda c, a: c.get("/no/such/route"),
    "wrong method 405": lambda c, a: c.put("/health"),
    "too large 413": lambda c, a: c.post("/users", content=b"x" * 70_000),
    "invalid 422": lambda c, a: c.post("/users", json={"email": "nope"}),
    "malformed json 422": lambda c, a: c.post(
        "/users", content=b"{", headers={"Content-Type": "application/json"}
    ),
}


def security_headers_of(response: httpx.Response) -> dict[str, list[str]]:
    """Every header of EVERY_RESPONSE and API_RESPONSE, with each value it was sent with."""
    return {name: response.headers.get_list(name) for name in EVERY_RESPONSE | API_RESPONSE}


API_HEADERS = {name: [value] for name, value in (EVERY_RESPONSE | API_RESPONSE).items()}


@pytest.mark.parametrize("call", sorted(API_CALLS))
def test_api_response_carries_every_security_header_once(
    client: TestClient, user: Account, call: str
) -> None:
    response = API_CALLS[call](client, user)

    assert security_headers_of(response) == API_HEADERS


@pytest.mark.parametrize("path", DOCUMENTATION_PATHS)
def test_documentation_carries_the_headers_of_every_response(client: TestClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 200
    assert {name: response.headers.get(name) for name in EVERY_RESPONSE} == EVERY_RESPONSE


@pytest.mark.parametrize("path", ["/docs", "/docs/oauth2-redirect", "/redoc"])
def test_documentation_pages_may_run_the_services_own_scripts(
    client: TestClient, path: str
) -> None:
    # Swagger UI and ReDoc are served by the service: test_docs_offline checks each policy.
    response = client.get(path)

    assert "script-src 'self';" in response.headers.get("content-security-policy", "")


@pytest.mark.parametrize("path", DOCUMENTATION_PATHS)
def test_documentation_may_be_cached(client: TestClient, path: str) -> None:
    response = client.get(path)

    assert response.headers.get("cache-control") != "no-store"


@pytest.fixture
def failing_app(app: FastAPI) -> FastAPI:
    async def explode() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/explode", explode, methods=["GET"])
    return app


def test_500_carries_every_security_header(failing_app: FastAPI) -> None:
    with TestClient(failing_app, raise_server_exceptions=False) as client:
        response = client.get("/explode")

    assert response.status_code == 500
    assert security_headers_of(response) == API_HEADERS


def test_429_carries_every_security_header(make_client: Callable[..., TestClient]) -> None:
    client = make_client(login_limit_per_account_address="1/minute")
    form = {"username": "ada@example.com", "password": "wrong-password-1"}
    client.post("/login", data=form)

    response = client.post("/login", data=form)

    assert response.status_code == 429
    assert security_headers_of(response) == API_HEADERS


def test_503_carries_every_security_header(make_client: Callable[..., TestClient]) -> None:
    client = make_client(database_url="postgresql+psycopg2://postgres@127.0.0.1:1/x")

    response = client.get("/health/db")

    assert response.status_code == 503
    assert security_headers_of(response) == API_HEADERS


def test_token_response_has_one_cache_control_header(client: TestClient, user: Account) -> None:
    response = client.post("/login", data={"username": user.email, "password": user.password})

    assert response.headers.get_list("cache-control") == ["no-store"]


def test_no_strict_transport_security_outside_production(client: TestClient) -> None:
    assert "strict-transport-security" not in client.get("/health").headers


@pytest.fixture
def production(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(environment="production", secret_key=os.environ["SECRET_KEY"])


@pytest.mark.parametrize("path", ["/health", "/no/such/route", "/docs", "/openapi.json"])
def test_strict_transport_security_in_production(production: TestClient, path: str) -> None:
    header = production.get(path).headers.get("strict-transport-security", "")

    assert header.startswith("max-age=")
    assert int(header.split(";")[0].removeprefix("max-age=")) >= 365 * 24 * 3600


# CORS


@pytest.fixture
def cors(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(cors_origins=[ALLOWED_ORIGIN])


def preflight(
    client: TestClient, origin: str, method: str = "POST", headers: str = "Content-Type"
) -> httpx.Response:
    return client.options(
        "/users/me",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


def test_allowed_origin_gets_access_control_allow_origin(cors: TestClient) -> None:
    response = cors.get("/health", headers={"Origin": ALLOWED_ORIGIN})

    assert response.headers.get("access-control-allow-origin") == ALLOWED_ORIGIN


def test_allowed_origin_can_read_the_error_envelope(cors: TestClient) -> None:
    response = cors.get("/users/me", headers={"Origin": ALLOWED_ORIGIN})

    assert response.status_code == 401
    assert response.headers.get("access-control-allow-origin") == ALLOWED_ORIGIN


def test_other_origin_gets_no_access_control_allow_origin(cors: TestClient) -> None:
    response = cors.get("/health", headers={"Origin": OTHER_ORIGIN})

    assert "access-control-allow-origin" not in response.headers


def test_other_origin_is_not_sent_credentials_permission(cors: TestClient) -> None:
    response = cors.get("/health", headers={"Origin": OTHER_ORIGIN})

    assert "access-control-allow-credentials" not in response.headers


def test_allowed_preflight_is_200_with_the_allowed_method(cors: TestClient) -> None:
    response = preflight(cors, ALLOWED_ORIGIN)

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]


def test_preflight_allows_the_authorization_header(cors: TestClient) -> None:
    response = preflight(cors, ALLOWED_ORIGIN, headers="Authorization")

    assert response.status_code == 200


def test_preflight_from_other_origin_is_400_cors_rejected(cors: TestClient) -> None:
    assert_error(preflight(cors, OTHER_ORIGIN), 400, "cors_rejected", None)


def test_preflight_with_unlisted_method_is_400_cors_rejected(cors: TestClient) -> None:
    assert_error(preflight(cors, ALLOWED_ORIGIN, method="TRACE"), 400, "cors_rejected", None)


def test_preflight_with_unlisted_header_is_400_cors_rejected(cors: TestClient) -> None:
    response = preflight(cors, ALLOWED_ORIGIN, headers="X-Evil")

    assert_error(response, 400, "cors_rejected", None)


def test_refused_preflight_grants_nothing(cors: TestClient) -> None:
    response = preflight(cors, OTHER_ORIGIN)

    assert "access-control-allow-origin" not in response.headers


def test_refused_preflight_carries_every_security_header(cors: TestClient) -> None:
    response = preflight(cors, OTHER_ORIGIN)

    assert security_headers_of(response) == API_HEADERS


def test_origin_null_is_not_allowed(cors: TestClient) -> None:
    response = cors.get("/health", headers={"Origin": "null"})

    assert "access-control-allow-origin" not in response.headers


def test_origin_that_only_starts_like_an_allowed_one_is_not_allowed(cors: TestClient) -> None:
    response = cors.get("/health", headers={"Origin": ALLOWED_ORIGIN + ".evil.net"})

    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": ALLOWED_ORIGIN},
        {"Origin": OTHER_ORIGIN},
    ],
)
def test_no_cors_headers_at_all_without_cors_origins(
    client: TestClient, user: Account, headers: dict[str, str]
) -> None:
    responses = [
        client.get("/health", headers=headers),
        client.get("/users/me", headers={**headers, **auth_headers(user.access_token)}),
        preflight(client, headers["Origin"]),
    ]

    for response in responses:
        assert not [name for name in response.headers if name.startswith("access-control-")]
