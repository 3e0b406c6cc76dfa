"""Cookie logins as the README deploys the service: the Procfile's web process
in production, behind a platform router that ends TLS, so requests reach it as
plain http while browsers are on https://PUBLIC_URL."""

from collections.abc import Iterator

import httpx
import pytest

from tests.helpers import STRONG_PASSWORD
from tests.procfile import ProcfileServer

PUBLIC = "https://accounts.example.com"
APP = "https://app.example.com"
EMAIL = "ada@example.com"
# What the router adds: the browser's address, appended.
ROUTED = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}


@pytest.fixture(scope="module")
def deployed(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = ProcfileServer(
        database_url=database_url,
        workdir=tmp_path_factory.mktemp("deployed"),
        env={"ENVIRONMENT": "production", "PUBLIC_URL": PUBLIC, "CORS_ORIGINS": APP},
    )
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def router(deployed: str) -> Iterator[httpx.Client]:
    """The platform's router in front of the web process, with Ada signed up."""
    with httpx.Client(base_url=deployed, headers=ROUTED, timeout=30) as client:
        signed_up = client.post("/users", json={"email": EMAIL, "password": STRONG_PASSWORD})
        assert signed_up.status_code == 201, signed_up.text
        yield client


def cookie_login(router: httpx.Client, origin: str) -> httpx.Response:
    return router.post(
        "/cookie/login",
        data={"username": EMAIL, "password": STRONG_PASSWORD},
        headers={"Origin": origin},
    )


def cookie_header(response: httpx.Response) -> str:
    """The cookies a browser on https would send back (httpx keeps no Secure
    cookie for an http URL, which is what the router's side of it is)."""
    pairs = [header.split(";", 1)[0] for header in response.headers.get_list("set-cookie")]
    return "; ".join(pairs)


def test_a_page_of_the_public_origin_logs_in_with_secure_host_cookies(
    router: httpx.Client,
) -> None:
    response = cookie_login(router, PUBLIC)
    assert response.status_code == 200, response.text
    set_cookies = response.headers.get_list("set-cookie")
    assert {header.split("=", 1)[0] for header in set_cookies} == {
        "__Host-access_token",
        "__Secure-refresh_token",
        "__Host-csrf_token",
    }
    assert all("Secure" in header for header in set_cookies)


def test_a_page_of_the_public_origin_changes_the_account_with_its_cookies(
    router: httpx.Client,
) -> None:
    login = cookie_login(router, PUBLIC)
    response = router.patch(
        "/users/me",
        json={"full_name": "Ada"},
        headers={
            "Origin": PUBLIC,
            "Cookie": cookie_header(login),
            "X-CSRF-Token": login.json()["csrf_token"],
        },
    )
    assert response.status_code == 200, response.text


def test_the_public_origin_over_plain_http_is_another_origin(router: httpx.Client) -> None:
    response = cookie_login(router, PUBLIC.replace("https://", "http://"))
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "origin_refused"


def test_the_app_listed_in_cors_origins_logs_in_behind_the_router(router: httpx.Client) -> None:
    response = cookie_login(router, APP)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP
    assert response.headers["access-control-allow-credentials"] == "true"
