"""The refresh-token reuse grace window (REFRESH_REUSE_GRACE_SECONDS): the token
a rotation spent, presented again soon after (a second tab refreshing at the
same moment, a retry after an answer lost on a mobile network), gets the
session's current pair; any other reuse still revokes the whole session."""

import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from service.config import Settings
from tests.helpers import (
    OTHER_PASSWORD,
    STRONG_PASSWORD,
    Account,
    claims_of,
    login,
    me,
    refresh,
    register,
)
from tests.servers import ServerProcess, start_servers, stop_servers

GRACE_SECONDS = 10


@pytest.fixture
def grace_client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(refresh_reuse_grace_seconds=GRACE_SECONDS)


@pytest.fixture
def account(grace_client: TestClient) -> Account:
    return register(grace_client)


def spend(client: TestClient, refresh_token: str) -> dict:
    response = refresh(client, refresh_token)
    assert response.status_code == 200, response.text
    return response.json()


# Within the window


def test_a_spent_token_presented_again_within_the_window_gets_a_pair(
    grace_client: TestClient, account: Account
) -> None:
    spend(grace_client, account.refresh_token)

    response = refresh(grace_client, account.refresh_token)

    assert response.status_code == 200, response.text
    assert me(grace_client, response.json()["access_token"]).status_code == 200


def test_the_pair_given_within_the_window_belongs_to_the_same_session(
    grace_client: TestClient, account: Account
) -> None:
    first = spend(grace_client, account.refresh_token)

    again = spend(grace_client, account.refresh_token)

    assert claims_of(again["refresh_token"])["sid"] == claims_of(first["refresh_token"])["sid"]
    assert claims_of(again["refresh_token"])["gen"] == claims_of(first["refresh_token"])["gen"]


def test_the_refresh_token_given_within_the_window_rotates_on(
    grace_client: TestClient, account: Account
) -> None:
    spend(grace_client, account.refresh_token)
    again = spend(grace_client, account.refresh_token)

    assert refresh(grace_client, again["refresh_token"]).status_code == 200


def test_a_reuse_within_the_window_leaves_the_winning_tab_signed_in(
    grace_client: TestClient, account: Account
) -> None:
    winner = spend(grace_client, account.refresh_token)
    spend(grace_client, account.refresh_token)

    assert me(grace_client, winner["access_token"]).status_code == 200
    assert refresh(grace_client, winner["refresh_token"]).status_code == 200


# Outside it


def test_a_token_two_generations_old_revokes_the_session_within_the_window(
    grace_client: TestClient, account: Account
) -> None:
    first = spend(grace_client, account.refresh_token)
    second = spend(grace_client, first["refresh_token"])

    assert refresh(grace_client, account.refresh_token).status_code == 401
    assert refresh(grace_client, second["refresh_token"]).status_code == 401
    assert me(grace_client, second["access_token"]).status_code == 401


def test_reuse_after_the_window_revokes_the_session(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(refresh_reuse_grace_seconds=1)
    account = register(client)
    newer = spend(client, account.refresh_token)
    time.sleep(1.2)

    assert refresh(client, account.refresh_token).status_code == 401
    assert refresh(client, newer["refresh_token"]).status_code == 401
    assert me(client, newer["access_token"]).status_code == 401


def test_a_grace_of_zero_is_strict_reuse_detection(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(refresh_reuse_grace_seconds=0)
    account = register(client)
    newer = spend(client, account.refresh_token)

    assert refresh(client, account.refresh_token).status_code == 401
    assert refresh(client, newer["refresh_token"]).status_code == 401


def test_the_window_does_not_outlive_a_logout(grace_client: TestClient, account: Account) -> None:
    newer = spend(grace_client, account.refresh_token)
    grace_client.post("/logout", json={"refresh_token": newer["refresh_token"]})

    assert refresh(grace_client, account.refresh_token).status_code == 401


def test_the_window_does_not_outlive_a_password_change(
    grace_client: TestClient, account: Account
) -> None:
    spend(grace_client, account.refresh_token)
    other = login(grace_client, account.email, STRONG_PASSWORD)
    changed = grace_client.post(
        "/users/me/password",
        json={"current_password": STRONG_PASSWORD, "new_password": OTHER_PASSWORD + "-x"},
        headers={"Authorization": f"Bearer {other['access_token']}"},
    )
    assert changed.status_code == 204, changed.text

    assert refresh(grace_client, account.refresh_token).status_code == 401


# The setting


def test_the_default_grace_is_ten_seconds() -> None:
    assert Settings.model_fields["refresh_reuse_grace_seconds"].default == 10


@pytest.mark.parametrize("seconds", [-1, 61])
def test_a_grace_outside_zero_to_sixty_seconds_is_refused(
    make_settings: Callable[..., Settings], seconds: int
) -> None:
    with pytest.raises(ValidationError):
        make_settings(refresh_reuse_grace_seconds=seconds)


# Overlapping refreshes against real servers


@pytest.fixture(scope="module", params=[1, 2], ids=["one-instance", "two-instances"])
def servers(
    request: pytest.FixtureRequest, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ServerProcess]]:
    started = start_servers(
        request.param,
        database_url=database_url,
        workdir=tmp_path_factory.mktemp("refresh-grace"),
        env={"REFRESH_REUSE_GRACE_SECONDS": str(GRACE_SECONDS)},
    )
    yield started
    stop_servers(started)


def refreshes_at_once(servers: list[ServerProcess], token: str, count: int) -> list[httpx.Response]:
    barrier = Barrier(count)

    def run(index: int) -> httpx.Response:
        with httpx.Client(base_url=servers[index % len(servers)].url, timeout=30) as client:
            barrier.wait()
            return client.post("/refresh", json={"refresh_token": token})

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def logged_in(servers: list[ServerProcess]) -> dict:
    with httpx.Client(base_url=servers[0].url, timeout=30) as client:
        signed_up = client.post(
            "/users", json={"email": "ada@example.com", "password": STRONG_PASSWORD}
        )
        assert signed_up.status_code == 201, signed_up.text
        response = client.post(
            "/login", data={"username": "ada@example.com", "password": STRONG_PASSWORD}
        )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("tabs", [2, 8])
def test_simultaneous_refreshes_of_one_token_all_succeed(
    servers: list[ServerProcess], tabs: int
) -> None:
    pair = logged_in(servers)

    responses = refreshes_at_once(servers, pair["refresh_token"], tabs)

    assert Counter(response.status_code for response in responses) == {200: tabs}


def test_simultaneous_refreshes_of_one_token_keep_the_session_signed_in(
    servers: list[ServerProcess],
) -> None:
    pair = logged_in(servers)

    responses = refreshes_at_once(servers, pair["refresh_token"], 2)

    with httpx.Client(base_url=servers[-1].url, timeout=30) as client:
        for response in responses:
            tokens = response.json()
            headers = {"Authorization": f"Bearer {tokens['access_token']}"}
            assert client.get("/users/me", headers=headers).status_code == 200
        newest = responses[0].json()["refresh_token"]
        again = client.post("/refresh", json={"refresh_token": newest})
        assert again.status_code == 200, again.text
