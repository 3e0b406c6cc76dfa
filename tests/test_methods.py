"""HEAD wherever GET answers, OPTIONS on every known path, and 405s whose
Allow header lists every method of the path."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Account, assert_error

pytestmark = pytest.mark.sqlite_only

USER_BY_ID = "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"
USERS_ME = "GET, HEAD, PATCH, DELETE, OPTIONS"
ORIGIN = "https://app.example.com"


# HEAD


def test_head_on_health_is_200_with_no_body(client: TestClient) -> None:
    response = client.head("/health")

    assert response.status_code == 200
    assert response.content == b""


def test_head_on_health_has_the_headers_get_has(client: TestClient) -> None:
    get = client.get("/health")

    head = client.head("/health")

    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == get.headers["content-length"]


def test_head_on_a_protected_route_without_a_token_is_401_like_get(client: TestClient) -> None:
    response = client.head("/users/me")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.content == b""


def test_head_on_users_me_signed_in_is_200_with_gets_length(
    client: TestClient, user: Account
) -> None:
    get = client.get("/users/me", headers=user.headers)

    head = client.head("/users/me", headers=user.headers)

    assert head.status_code == 200
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.content == b""


def test_head_on_a_user_by_id_is_200(client: TestClient, user: Account) -> None:
    response = client.head(f"/users/{user.id}", headers=user.headers)

    assert response.status_code == 200


def test_head_on_a_post_only_route_is_405(client: TestClient) -> None:
    response = client.head("/login")

    assert response.status_code == 405
    assert response.headers["allow"] == "POST, OPTIONS"


def test_head_on_an_unknown_path_is_404(client: TestClient) -> None:
    assert client.head("/nowhere").status_code == 404


def test_head_on_the_openapi_document_is_200(client: TestClient) -> None:
    assert client.head("/openapi.json").status_code == 200


# 405


def test_wrong_method_on_a_user_by_id_lists_every_method_of_the_path(client: TestClient) -> None:
    response = client.post("/users/1")

    assert_error(response, 405, "method_not_allowed", None)
    assert response.headers["allow"] == USER_BY_ID


def test_wrong_method_on_the_users_collection_lists_get_and_post(client: TestClient) -> None:
    response = client.delete("/users")

    assert_error(response, 405, "method_not_allowed", None)
    assert response.headers["allow"] == "GET, HEAD, POST, OPTIONS"


def test_put_on_users_me_is_405_not_a_user_id_that_is_not_a_number(client: TestClient) -> None:
    response = client.put("/users/me", json={"full_name": "Ada"})

    assert_error(response, 405, "method_not_allowed", None)
    assert response.headers["allow"] == USERS_ME


def test_wrong_method_is_405_before_authentication(client: TestClient) -> None:
    response = client.post("/users/me")

    assert_error(response, 405, "method_not_allowed", None)


def test_an_unknown_method_on_a_known_path_is_405(client: TestClient) -> None:
    response = client.request("PURGE", "/health")

    assert_error(response, 405, "method_not_allowed", None)
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"


def test_wrong_method_on_an_unknown_path_is_404(client: TestClient) -> None:
    assert_error(client.delete("/nowhere"), 404, "not_found", None)


# OPTIONS


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/users/1", USER_BY_ID),
        ("/users/me", USERS_ME),
        ("/users", "GET, HEAD, POST, OPTIONS"),
        ("/login", "POST, OPTIONS"),
        ("/health/db", "GET, HEAD, OPTIONS"),
    ],
)
def test_options_on_a_known_path_is_204_with_every_method_in_allow(
    client: TestClient, path: str, allow: str
) -> None:
    response = client.options(path)

    assert response.status_code == 204
    assert response.headers["allow"] == allow
    assert response.content == b""


def test_options_on_an_unknown_path_is_404(client: TestClient) -> None:
    assert_error(client.options("/nowhere"), 404, "not_found", None)


def test_cors_preflight_on_a_user_by_id_is_still_answered_by_cors(
    make_client: Callable[..., TestClient],
) -> None:
    cors = make_client(cors_origins=ORIGIN)

    response = cors.options(
        "/users/1",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "PATCH"},
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "PATCH" in response.headers["access-control-allow-methods"]


def test_options_without_preflight_headers_is_204_with_cors_on(
    make_client: Callable[..., TestClient],
) -> None:
    cors = make_client(cors_origins=ORIGIN)

    response = cors.options("/users/1", headers={"Origin": ORIGIN})

    assert response.status_code == 204
    assert response.headers["allow"] == USER_BY_ID
    assert response.headers["access-control-allow-origin"] == ORIGIN
