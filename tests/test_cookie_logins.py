"""Cookie logins for browser apps: the cookies, the origin and CSRF rules of
cookie-authenticated requests, refresh and logout from cookies, and CORS with
credentials (docs/API-NOTES.md "Cookie logins")."""

from collections.abc import Callable
from http.cookies import SimpleCookie

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from service.config import Settings
from tests.helpers import STRONG_PASSWORD, assert_error, auth_headers, register

SERVICE = "https://accounts.example.com"
APP = "https://app.example.com"
ELSEWHERE = "https://evil.example.net"
FROM_APP = {"Origin": APP}
EMAIL = "ada@example.com"


@pytest.fixture
def make_cookie_client(make_client: Callable[..., TestClient]) -> Callable[..., TestClient]:
    """Clients that keep cookies like a browser, of a service at SERVICE."""

    def make(base_url: str = SERVICE, **overrides: object) -> TestClient:
        return make_client(base_url=base_url, cors_origins=APP, **overrides)

    return make


@pytest.fixture
def cookie_client(make_cookie_client: Callable[..., TestClient]) -> TestClient:
    cookie_client = make_cookie_client()
    register(cookie_client, email=EMAIL, password=STRONG_PASSWORD)
    return cookie_client


def cookie_login(client: TestClient, headers: dict[str, str] | None = None) -> httpx.Response:
    return client.post(
        "/cookie/login",
        data={"username": EMAIL, "password": STRONG_PASSWORD},
        headers=FROM_APP if headers is None else headers,
    )


def logged_in(client: TestClient) -> str:
    """Log the cookie_client in; its CSRF token."""
    response = cookie_login(client)
    assert response.status_code == 200, response.text
    return response.json()["csrf_token"]


def set_cookies(response: httpx.Response) -> dict[str, dict[str, str]]:
    """Each cookie the response sets, with its attributes (lower-cased names)."""
    found: dict[str, dict[str, str]] = {}
    for header in response.headers.get_list("set-cookie"):
        parsed = SimpleCookie()
        parsed.load(header)
        for name, morsel in parsed.items():
            attributes = {key: str(value) for key, value in morsel.items() if value}
            found[name] = {"value": morsel.value, **attributes}
            # SimpleCookie reads flags as empty values; keep them by presence.
            for flag in ("httponly", "secure"):
                if flag in header.lower():
                    found[name].setdefault(flag, "")
    return found


def unsafe(csrf_token: str | None, origin: str = APP) -> dict[str, str]:
    headers = {"Origin": origin}
    if csrf_token is not None:
        headers["X-CSRF-Token"] = csrf_token
    return headers


def rename(client: TestClient, headers: dict[str, str]) -> httpx.Response:
    return client.patch("/users/me", json={"full_name": "Ada"}, headers=headers)


# Logging in


def test_cookie_login_sets_the_access_token_as_a_host_only_http_only_cookie(
    cookie_client: TestClient,
) -> None:
    access = set_cookies(cookie_login(cookie_client))["__Host-access_token"]
    assert access["path"] == "/"
    assert access["samesite"].lower() == "strict"
    assert access["max-age"] == "900"
    assert "httponly" in access
    assert "secure" in access
    assert "domain" not in access


def test_cookie_login_scopes_the_refresh_cookie_to_the_cookie_routes(
    cookie_client: TestClient,
) -> None:
    refresh = set_cookies(cookie_login(cookie_client))["__Secure-refresh_token"]
    assert refresh["path"] == "/cookie"
    assert refresh["samesite"].lower() == "strict"
    assert "httponly" in refresh
    assert "secure" in refresh
    # The refresh token's lifetime (30 days), less the second the login took.
    assert 30 * 86400 - 5 <= int(refresh["max-age"]) <= 30 * 86400


def test_cookie_login_gives_a_csrf_cookie_scripts_can_read(cookie_client: TestClient) -> None:
    response = cookie_login(cookie_client)
    csrf = set_cookies(response)["__Host-csrf_token"]
    assert "httponly" not in csrf
    assert "secure" in csrf
    assert csrf["path"] == "/"
    assert csrf["value"] == response.json()["csrf_token"]


def test_cookie_login_sends_no_token_in_its_body(cookie_client: TestClient) -> None:
    response = cookie_login(cookie_client)
    assert response.status_code == 200
    assert set(response.json()) == {"token_type", "csrf_token", "expires_in"}
    assert response.json()["token_type"] == "cookie"
    assert response.json()["expires_in"] == 900
    assert response.headers["cache-control"] == "no-store"


def test_cookie_login_from_another_origin_is_refused_before_the_password_is_checked(
    cookie_client: TestClient,
) -> None:
    response = cookie_client.post(
        "/cookie/login",
        data={"username": EMAIL, "password": "wrong-password"},
        headers={"Origin": ELSEWHERE},
    )
    assert_error(response, 403, "origin_refused")
    assert "set-cookie" not in response.headers


def test_cookie_login_naming_no_origin_is_refused(cookie_client: TestClient) -> None:
    assert_error(cookie_login(cookie_client, headers={}), 403, "origin_refused")


def test_cookie_login_from_a_page_of_an_allowed_origin_counts_its_referer(
    cookie_client: TestClient,
) -> None:
    response = cookie_login(cookie_client, headers={"Referer": f"{APP}/sign-in?next=/"})
    assert response.status_code == 200


def test_cookie_login_from_the_services_own_origin_is_allowed(cookie_client: TestClient) -> None:
    assert cookie_login(cookie_client, headers={"Origin": SERVICE}).status_code == 200


def test_cookie_login_with_a_wrong_password_sets_no_cookie(cookie_client: TestClient) -> None:
    response = cookie_client.post(
        "/cookie/login", data={"username": EMAIL, "password": "wrong-password"}, headers=FROM_APP
    )
    assert_error(response, 401, "invalid_credentials")
    assert "set-cookie" not in response.headers


# Requests authenticated by the cookie


def test_the_access_cookie_authenticates_a_read_without_a_csrf_token(
    cookie_client: TestClient,
) -> None:
    logged_in(cookie_client)
    response = cookie_client.get("/users/me")
    assert response.status_code == 200
    assert response.json()["email"] == EMAIL


def test_an_unsafe_cookie_request_without_the_csrf_header_is_refused(
    cookie_client: TestClient,
) -> None:
    logged_in(cookie_client)
    assert_error(rename(cookie_client, unsafe(None)), 403, "csrf_failed")


def test_an_unsafe_cookie_request_with_a_wrong_csrf_token_is_refused(
    cookie_client: TestClient,
) -> None:
    logged_in(cookie_client)
    assert_error(rename(cookie_client, unsafe("not-the-token")), 403, "csrf_failed")


def test_an_unsafe_cookie_request_with_its_csrf_token_is_served(cookie_client: TestClient) -> None:
    csrf_token = logged_in(cookie_client)
    response = rename(cookie_client, unsafe(csrf_token))
    assert response.status_code == 200
    assert response.json()["full_name"] == "Ada"


def test_an_unsafe_cookie_request_from_another_origin_is_refused_with_its_csrf_token(
    cookie_client: TestClient,
) -> None:
    csrf_token = logged_in(cookie_client)
    assert_error(rename(cookie_client, unsafe(csrf_token, origin=ELSEWHERE)), 403, "origin_refused")


def test_a_csrf_token_of_another_login_is_refused(
    cookie_client: TestClient, make_cookie_client: Callable[..., TestClient]
) -> None:
    """Header and cookie agree, but they are another session's: the token is
    bound to the login, not only to what the cookie_client holds."""
    logged_in(cookie_client)
    other_token = logged_in(make_cookie_client())
    cookie_client.cookies.set("__Host-csrf_token", other_token, domain="accounts.example.com")
    assert_error(rename(cookie_client, unsafe(other_token)), 403, "csrf_failed")


def test_a_csrf_header_that_differs_from_the_cookie_is_refused(cookie_client: TestClient) -> None:
    csrf_token = logged_in(cookie_client)
    cookie_client.cookies.set("__Host-csrf_token", "planted", domain="accounts.example.com")
    assert_error(rename(cookie_client, unsafe(csrf_token)), 403, "csrf_failed")


def test_a_bearer_request_needs_no_origin_or_csrf_token_beside_cookies(
    cookie_client: TestClient,
) -> None:
    logged_in(cookie_client)
    tokens = cookie_client.post(
        "/login", data={"username": EMAIL, "password": STRONG_PASSWORD}
    ).json()
    response = rename(cookie_client, auth_headers(tokens["access_token"]))
    assert response.status_code == 200


def test_a_non_ascii_csrf_header_is_refused_not_an_error(cookie_client: TestClient) -> None:
    logged_in(cookie_client)
    headers = [("Origin", APP), ("X-CSRF-Token", "caf\xe9".encode("latin-1"))]
    response = cookie_client.patch("/users/me", json={"full_name": "Ada"}, headers=headers)
    assert_error(response, 403, "csrf_failed")


# Refresh, the page's CSRF token, and logout


def test_cookie_refresh_sets_new_tokens_and_keeps_the_csrf_token(cookie_client: TestClient) -> None:
    csrf_token = logged_in(cookie_client)
    old_access = cookie_client.cookies.get("__Host-access_token")
    response = cookie_client.post("/cookie/refresh", headers=unsafe(csrf_token))
    assert response.status_code == 200
    cookies = set_cookies(response)
    assert cookies["__Host-access_token"]["value"] != old_access
    assert response.json()["csrf_token"] == csrf_token
    assert cookie_client.get("/users/me").status_code == 200


def test_cookie_refresh_without_the_csrf_header_is_refused_and_changes_nothing(
    cookie_client: TestClient,
) -> None:
    logged_in(cookie_client)
    response = cookie_client.post("/cookie/refresh", headers=unsafe(None))
    assert_error(response, 403, "csrf_failed")
    assert "set-cookie" not in response.headers


def test_cookie_refresh_from_another_origin_is_refused(cookie_client: TestClient) -> None:
    csrf_token = logged_in(cookie_client)
    response = cookie_client.post("/cookie/refresh", headers=unsafe(csrf_token, origin=ELSEWHERE))
    assert_error(response, 403, "origin_refused")


def test_cookie_refresh_without_a_refresh_cookie_is_not_authenticated(
    cookie_client: TestClient,
) -> None:
    assert_error(cookie_client.post("/cookie/refresh", headers=FROM_APP), 401, "not_authenticated")


def test_cookie_refresh_of_an_ended_login_clears_the_cookies(cookie_client: TestClient) -> None:
    csrf_token = logged_in(cookie_client)
    tokens = cookie_client.post(
        "/login", data={"username": EMAIL, "password": STRONG_PASSWORD}
    ).json()
    cookie_client.post("/logout/all", headers=auth_headers(tokens["access_token"]))
    response = cookie_client.post("/cookie/refresh", headers=unsafe(csrf_token))
    assert_error(response, 401, "invalid_token")
    cleared = set_cookies(response)
    assert {name: cookie["max-age"] for name, cookie in cleared.items()} == {
        "__Host-access_token": "0",
        "__Secure-refresh_token": "0",
        "__Host-csrf_token": "0",
    }


def test_the_page_gets_its_csrf_token_back_after_a_reload(cookie_client: TestClient) -> None:
    csrf_token = logged_in(cookie_client)
    response = cookie_client.get("/cookie/session", headers=FROM_APP)
    assert response.status_code == 200
    assert response.json()["csrf_token"] == csrf_token


def test_the_csrf_token_of_no_cookie_login_is_not_authenticated(cookie_client: TestClient) -> None:
    assert_error(cookie_client.get("/cookie/session"), 401, "not_authenticated")


def test_cookie_logout_ends_the_login_and_clears_its_cookies(cookie_client: TestClient) -> None:
    csrf_token = logged_in(cookie_client)
    access = cookie_client.cookies.get("__Host-access_token")
    response = cookie_client.post("/cookie/logout", headers=unsafe(csrf_token))
    assert response.status_code == 204
    assert all(cookie["max-age"] == "0" for cookie in set_cookies(response).values())
    assert_error(
        cookie_client.get("/users/me", headers=auth_headers(str(access))), 401, "invalid_token"
    )


def test_cookie_logout_without_the_csrf_header_is_refused_and_the_login_lives(
    cookie_client: TestClient,
) -> None:
    logged_in(cookie_client)
    assert_error(cookie_client.post("/cookie/logout", headers=unsafe(None)), 403, "csrf_failed")
    assert cookie_client.get("/users/me").status_code == 200


def test_cookie_logout_without_cookies_answers_204(cookie_client: TestClient) -> None:
    assert cookie_client.post("/cookie/logout", headers=FROM_APP).status_code == 204


# Development over http on this machine, and production


def test_cookies_over_http_on_localhost_in_development_are_not_secure(
    make_cookie_client: Callable[..., TestClient],
) -> None:
    cookie_client = make_cookie_client(base_url="http://localhost:8000", environment="development")
    register(cookie_client, email=EMAIL, password=STRONG_PASSWORD)
    cookies = set_cookies(cookie_login(cookie_client))
    assert set(cookies) == {"access_token", "refresh_token", "csrf_token"}
    assert not any("secure" in cookie for cookie in cookies.values())
    assert cookie_client.get("/users/me").status_code == 200


def test_cookies_in_production_are_secure_even_on_localhost(
    make_cookie_client: Callable[..., TestClient],
) -> None:
    cookie_client = make_cookie_client(base_url="http://localhost:8000", environment="production")
    register(cookie_client, email=EMAIL, password=STRONG_PASSWORD)
    cookies = set_cookies(cookie_login(cookie_client))
    assert set(cookies) == {"__Host-access_token", "__Secure-refresh_token", "__Host-csrf_token"}
    assert all("secure" in cookie for cookie in cookies.values())


# CORS with credentials, for CORS_ORIGINS only


def test_a_preflight_from_an_allowed_origin_allows_credentials_and_the_csrf_header(
    cookie_client: TestClient,
) -> None:
    response = cookie_client.options(
        "/users/me",
        headers={
            "Origin": APP,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "content-type,x-csrf-token",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "x-csrf-token" in response.headers["access-control-allow-headers"].lower()


def test_a_preflight_from_another_origin_is_refused(cookie_client: TestClient) -> None:
    response = cookie_client.options(
        "/users/me",
        headers={"Origin": ELSEWHERE, "Access-Control-Request-Method": "PATCH"},
    )
    assert_error(response, 400, "cors_rejected")
    # Without it the cookie_client shares nothing, whatever else the answer says.
    assert "access-control-allow-origin" not in response.headers


def test_a_credentialed_read_from_an_allowed_origin_is_given_to_it_alone(
    cookie_client: TestClient,
) -> None:
    logged_in(cookie_client)
    response = cookie_client.get("/users/me", headers=FROM_APP)
    assert response.headers["access-control-allow-origin"] == APP
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "origin" in response.headers["vary"].lower()


@pytest.mark.parametrize("origins", ["*", "https://app.example.com,*", "https://app.example.com/x"])
def test_cors_origins_that_are_not_plain_origins_are_refused(origins: str) -> None:
    with pytest.raises(ValidationError, match="CORS_ORIGINS lists origins"):
        Settings(cors_origins=origins)


def test_a_cors_origin_is_kept_as_browsers_send_it() -> None:
    assert Settings(cors_origins="https://App.Example.com/").cors_origins == [APP]
