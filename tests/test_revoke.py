"""POST /revoke (RFC 7009): a refresh or access token ends its login; anything
else is the same empty 200; a missing or repeated `token` is a 400."""

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import httpx
import pytest
from fastapi.testclient import TestClient

from service.config import Settings
from tests.helpers import (
    STRONG_PASSWORD,
    Account,
    assert_error,
    claims_of,
    kinds_of,
    login,
    me,
    refresh,
    sign,
)
from tests.servers import ServerProcess, start_servers, stop_servers

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def revoke(client: TestClient | httpx.Client, token: str, **fields: str) -> httpx.Response:
    return client.post("/revoke", data={"token": token, **fields})


def expired(token: str, settings: Settings) -> str:
    past = int(time.time()) - 60
    return sign({**claims_of(token), "iat": past - 3600, "exp": past}, settings.signing_key)


def test_revoking_a_refresh_token_is_200_with_an_empty_body(
    client: TestClient, user: Account
) -> None:
    response = revoke(client, user.refresh_token)

    assert response.status_code == 200
    assert response.content == b""


def test_revoking_a_refresh_token_ends_its_login(client: TestClient, user: Account) -> None:
    revoke(client, user.refresh_token)

    assert_error(me(client, user.access_token), 401, "invalid_token")


def test_a_revoked_refresh_token_cannot_refresh(client: TestClient, user: Account) -> None:
    revoke(client, user.refresh_token)

    assert_error(refresh(client, user.refresh_token), 401, "invalid_token")


def test_revoking_an_access_token_ends_its_login(client: TestClient, user: Account) -> None:
    assert revoke(client, user.access_token).status_code == 200

    assert me(client, user.access_token).status_code == 401
    assert refresh(client, user.refresh_token).status_code == 401


def test_revoking_leaves_the_users_other_logins_signed_in(
    client: TestClient, user: Account
) -> None:
    other = login(client, user.email, user.password)

    revoke(client, user.refresh_token)

    assert me(client, other["access_token"]).status_code == 200


def test_revoking_an_expired_refresh_token_ends_its_login(
    client: TestClient, user: Account, settings: Settings
) -> None:
    assert revoke(client, expired(user.refresh_token, settings)).status_code == 200

    assert me(client, user.access_token).status_code == 401


def test_an_expired_access_token_is_200_and_ends_nothing(
    client: TestClient, user: Account, settings: Settings
) -> None:
    assert revoke(client, expired(user.access_token, settings)).status_code == 200

    assert me(client, user.access_token).status_code == 200


NOT_OURS = {
    "garbage": "garbage",
    "jwt-shape": "e30.e30.e30",
    "longer-than-any-of-ours": "a" * 4097,
    "non-ascii": "\u00e9\u202e",
}


@pytest.mark.parametrize("token", NOT_OURS.values(), ids=NOT_OURS.keys())
def test_a_token_not_ours_is_200_and_ends_nothing(
    client: TestClient, user: Account, token: str
) -> None:
    response = revoke(client, token)

    assert (response.status_code, response.content) == (200, b"")
    assert me(client, user.access_token).status_code == 200


def test_a_forged_refresh_token_is_200_and_ends_nothing(client: TestClient, user: Account) -> None:
    forged = sign(claims_of(user.refresh_token), "another-key-" * 4)

    assert revoke(client, forged).status_code == 200
    assert me(client, user.access_token).status_code == 200


def test_revoking_twice_is_200_both_times(client: TestClient, user: Account) -> None:
    first = revoke(client, user.refresh_token)
    second = revoke(client, user.refresh_token)

    assert (first.status_code, second.status_code) == (200, 200)


@pytest.mark.parametrize("hint", ["access_token", "refresh_token", "id_token", ""])
def test_a_refresh_token_is_revoked_whatever_the_hint(
    client: TestClient, user: Account, hint: str
) -> None:
    revoke(client, user.refresh_token, token_type_hint=hint)

    assert me(client, user.access_token).status_code == 401


@pytest.mark.parametrize("hint", ["refresh_token", "access_token", "unknown"])
def test_an_access_token_is_revoked_whatever_the_hint(
    client: TestClient, user: Account, hint: str
) -> None:
    revoke(client, user.access_token, token_type_hint=hint)

    assert refresh(client, user.refresh_token).status_code == 401


def test_a_client_id_is_accepted_and_ignored(client: TestClient, user: Account) -> None:
    assert revoke(client, user.refresh_token, client_id="my-app").status_code == 200

    assert me(client, user.access_token).status_code == 401


def test_the_answer_is_not_cached(client: TestClient, user: Account) -> None:
    response = revoke(client, user.refresh_token)

    assert response.headers["Cache-Control"] == "no-store"


def test_a_missing_token_is_400_invalid_request(client: TestClient) -> None:
    response = client.post("/revoke", data={"token_type_hint": "refresh_token"})

    assert_error(response, 400, "field_required", "token", oauth_error="invalid_request")


def test_an_empty_token_is_400_invalid_request(client: TestClient) -> None:
    response = client.post("/revoke", data={"token": ""})

    assert_error(response, 400, "field_required", "token", oauth_error="invalid_request")


def test_an_empty_body_is_400_invalid_request(client: TestClient) -> None:
    response = client.post("/revoke", content=b"", headers=FORM)

    assert_error(response, 400, "field_required", "token", oauth_error="invalid_request")


def test_a_token_sent_twice_is_400_and_ends_nothing(client: TestClient, user: Account) -> None:
    body = f"token={user.refresh_token}&token=garbage".encode()

    response = client.post("/revoke", content=body, headers=FORM)

    assert_error(response, 400, "invalid_value", "token", oauth_error="invalid_request")
    assert me(client, user.access_token).status_code == 200


def test_revoking_is_recorded_as_a_logout(client: TestClient, user: Account) -> None:
    other = login(client, user.email, user.password)

    revoke(client, user.refresh_token)

    assert kinds_of(client, {"Authorization": f"Bearer {other['access_token']}"})[0] == (
        "logged_out"
    )


def test_a_revoke_that_ends_nothing_is_not_recorded(client: TestClient, user: Account) -> None:
    revoke(client, "garbage")
    revoke(client, user.access_token)
    revoke(client, user.refresh_token)
    other = login(client, user.email, user.password)

    kinds = kinds_of(client, {"Authorization": f"Bearer {other['access_token']}"})

    assert kinds.count("logged_out") == 1


# A revoke racing a refresh of the same login, on a real server: whichever
# lands first, once both have answered no token of that login works.

RACES = 10


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("revoke-races")
    env = {"REFRESH_LIMIT_PER_ADDRESS": "1000/minute", "LOGIN_LIMIT_PER_ADDRESS": "1000/hour"}
    started = start_servers(1, database_url=database_url, workdir=workdir, env=env)
    yield started[0]
    stop_servers(started)


def race(server: ServerProcess, refresh_token: str, revoked: str) -> httpx.Response:
    """The refresh's answer; the revoke of `revoked` is released with it."""
    barrier = Barrier(2)

    def refreshing() -> httpx.Response:
        with server.client() as client:
            barrier.wait()
            return client.post("/refresh", json={"refresh_token": refresh_token})

    def revoking() -> httpx.Response:
        with server.client() as client:
            barrier.wait()
            return revoke(client, revoked)

    with ThreadPoolExecutor(2) as pool:
        refreshed, revoke_answer = pool.submit(refreshing), pool.submit(revoking)
        assert revoke_answer.result().status_code == 200
        return refreshed.result()


@pytest.mark.parametrize("kind", ["refresh_token", "access_token"])
def test_a_revoke_racing_a_refresh_leaves_no_token_of_the_login_working(
    server: ServerProcess, kind: str
) -> None:
    with server.client() as client:
        client.post("/users", json={"email": "ada@example.com", "password": STRONG_PASSWORD})
    for _ in range(RACES):
        with server.client() as client:
            pair = client.post(
                "/login", data={"username": "ada@example.com", "password": STRONG_PASSWORD}
            ).json()
        refreshed = race(server, pair["refresh_token"], pair[kind])
        assert refreshed.status_code in (200, 401), refreshed.text
        tokens = [pair] + ([refreshed.json()] if refreshed.status_code == 200 else [])
        with server.client() as client:
            for issued in tokens:
                assert me(client, issued["access_token"]).status_code == 401  # type: ignore[arg-type]
                retried = client.post("/refresh", json={"refresh_token": issued["refresh_token"]})
                assert retried.status_code == 401
