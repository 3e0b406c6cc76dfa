"""Unchanged client code of two OAuth2 libraries, Authlib and requests-oauthlib,
against a real server: the password grant, a protected call, refreshing (by
hand and on expiry) and revocation (RFC 7009). Both databases: the calls go
through the whole stack."""

import time
from collections.abc import Iterator

import httpx
import pytest
from authlib.integrations.requests_client import OAuth2Session
from oauthlib.oauth2 import LegacyApplicationClient
from requests_oauthlib import OAuth2Session as LegacySession

from tests.helpers import STRONG_PASSWORD
from tests.servers import ServerProcess, start_servers, stop_servers

EMAIL = "ada@example.com"
CLIENT_ID = "example-app"


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("oauth-clients")
    started = start_servers(1, database_url=database_url, workdir=workdir)
    yield started[0]
    stop_servers(started)


@pytest.fixture
def account(server: ServerProcess) -> str:
    response = httpx.post(f"{server.url}/users", json={"email": EMAIL, "password": STRONG_PASSWORD})
    assert response.status_code == 201, response.text
    return EMAIL


@pytest.fixture(autouse=True)
def _plain_http_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    # oauthlib refuses http:// unless told; the test server has no TLS.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def authlib_session(**kwargs: object) -> OAuth2Session:
    return OAuth2Session(client_id=CLIENT_ID, **kwargs)  # type: ignore[arg-type]


def test_authlib_password_grant_gives_tokens_that_reach_users_me(
    server: ServerProcess, account: str
) -> None:
    session = authlib_session()

    token = session.fetch_token(f"{server.url}/login", username=account, password=STRONG_PASSWORD)

    assert {"access_token", "refresh_token"} <= token.keys()
    assert session.get(f"{server.url}/users/me").json()["email"] == account


def test_authlib_refresh_token_gives_a_working_pair(server: ServerProcess, account: str) -> None:
    session = authlib_session()
    first = session.fetch_token(f"{server.url}/login", username=account, password=STRONG_PASSWORD)

    second = session.refresh_token(f"{server.url}/login", refresh_token=first["refresh_token"])

    assert second["refresh_token"] != first["refresh_token"]
    assert session.get(f"{server.url}/users/me").status_code == 200


def test_authlib_refreshes_an_expired_token_by_itself(server: ServerProcess, account: str) -> None:
    updates: list[dict[str, object]] = []
    session = authlib_session(
        token_endpoint=f"{server.url}/login",
        update_token=lambda token, **_: updates.append(token),
    )
    first = session.fetch_token(username=account, password=STRONG_PASSWORD)
    # As the client would see it a quarter of an hour later.
    session.token["expires_at"] = int(time.time()) - 1

    assert session.get(f"{server.url}/users/me").status_code == 200
    assert [token["refresh_token"] != first["refresh_token"] for token in updates] == [True]


@pytest.mark.parametrize("kind", ["refresh_token", "access_token"])
def test_authlib_revoke_token_ends_the_login(
    server: ServerProcess, account: str, kind: str
) -> None:
    session = authlib_session()
    token = session.fetch_token(f"{server.url}/login", username=account, password=STRONG_PASSWORD)

    revoked = session.revoke_token(f"{server.url}/revoke", token=token[kind], token_type_hint=kind)

    assert revoked.status_code == 200
    assert session.get(f"{server.url}/users/me").status_code == 401
    refreshed = httpx.post(f"{server.url}/refresh", json={"refresh_token": token["refresh_token"]})
    assert refreshed.status_code == 401


def test_requests_oauthlib_password_grant_call_and_refresh(
    server: ServerProcess, account: str
) -> None:
    session = LegacySession(client=LegacyApplicationClient(client_id=CLIENT_ID))
    token_url = f"{server.url}/login"
    first = session.fetch_token(token_url=token_url, username=account, password=STRONG_PASSWORD)
    assert session.get(f"{server.url}/users/me").json()["email"] == account

    second = session.refresh_token(token_url, refresh_token=first["refresh_token"])

    assert second["refresh_token"] != first["refresh_token"]
    assert session.get(f"{server.url}/users/me").status_code == 200


def test_requests_oauthlib_with_a_client_secret_is_served(
    server: ServerProcess, account: str
) -> None:
    # The client's id and secret in a Basic header (RFC 6749 2.3.1), as it sends them.
    session = LegacySession(client=LegacyApplicationClient(client_id=CLIENT_ID))

    token = session.fetch_token(
        token_url=f"{server.url}/login",
        username=account,
        password=STRONG_PASSWORD,
        client_id=CLIENT_ID,
        client_secret="not-checked",
    )

    assert "access_token" in token


def test_authlib_asking_for_scopes_is_granted_them_and_keeps_them_on_refresh(
    server: ServerProcess, account: str
) -> None:
    session = authlib_session(scope="profile:read sessions:read")
    token = session.fetch_token(f"{server.url}/login", username=account, password=STRONG_PASSWORD)

    refreshed = session.refresh_token(f"{server.url}/login", refresh_token=token["refresh_token"])

    assert token["scope"] == refreshed["scope"] == "profile:read sessions:read"
    assert session.get(f"{server.url}/users/me/sessions").status_code == 200
    assert session.delete(f"{server.url}/users/me/sessions").status_code == 403


def test_requests_oauthlib_asking_for_scopes_is_granted_them(
    server: ServerProcess, account: str
) -> None:
    # Its password grant sends the client's scope; the session checks the answer against it.
    client = LegacyApplicationClient(client_id=CLIENT_ID, scope=["profile:read"])
    session = LegacySession(client=client, scope=["profile:read"])
    token_url = f"{server.url}/login"

    token = session.fetch_token(token_url=token_url, username=account, password=STRONG_PASSWORD)
    refreshed = session.refresh_token(token_url, refresh_token=token["refresh_token"])

    assert token["scope"] == refreshed["scope"] == ["profile:read"]
    assert session.get(f"{server.url}/users/me").status_code == 200
    assert session.get(f"{server.url}/users/me/events").status_code == 403
