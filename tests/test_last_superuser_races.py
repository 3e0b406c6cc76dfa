"""Two superusers removing each other at the same moment, through two real
server processes: the database serializes the count and the change, so one
wins, the other gets 409, and an active superuser always remains."""

import threading
from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlalchemy import Engine, func, select, update

from service.models import User
from tests.helpers import STRONG_PASSWORD, assert_error, auth_headers, set_user
from tests.servers import ServerProcess, start_servers, stop_servers

ROUNDS = 5
# What a loser whose request is authorized after the winner's change gets:
# demoted or deactivated, its login is over (a role change ends its sessions).
LATE_LOSER = {"is_superuser": 401, "is_active": 401}
Send = Callable[[httpx.Client], httpx.Response]
Pair = tuple[int, dict[str, str]]


@pytest.fixture(scope="module")
def pair(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ServerProcess]]:
    # Unthrottled: every round signs up and logs in from the same address.
    servers = start_servers(
        2,
        database_url=database_url,
        workdir=tmp_path_factory.mktemp("superuser-pair"),
        env={"RATE_LIMIT_ENABLED": "false"},
    )
    yield servers
    stop_servers(servers)


@pytest.fixture
def clients(pair: list[ServerProcess]) -> Iterator[list[httpx.Client]]:
    opened = [server.client() for server in pair]
    yield opened
    for client in opened:
        client.close()


def superuser_on(client: httpx.Client, engine: Engine, email: str) -> Pair:
    """A new superuser's id and the headers of its login."""
    signed_up = client.post("/users", json={"email": email, "password": STRONG_PASSWORD})
    assert signed_up.status_code == 201, signed_up.text
    user_id = signed_up.json()["id"]
    set_user(engine, user_id, is_superuser=True)
    login = client.post("/login", data={"username": email, "password": STRONG_PASSWORD})
    assert login.status_code == 200, login.text
    return user_id, auth_headers(login.json()["access_token"])


def at_the_same_moment(clients: list[httpx.Client], sends: list[Send]) -> list[httpx.Response]:
    """Each send on its own server, released together by a barrier."""
    barrier = threading.Barrier(len(sends))
    responses: list[httpx.Response | None] = [None] * len(sends)

    def run(index: int) -> None:
        barrier.wait()
        responses[index] = sends[index](clients[index])

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(sends))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(response is not None for response in responses)
    return responses  # type: ignore[return-value]


def active_superusers(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(
            select(func.count())
            .select_from(User)
            .where(User.is_superuser.is_(True), User.is_active.is_(True))
        )


def patch(user_id: int, headers: dict[str, str], body: dict[str, bool]) -> Send:
    return lambda client: client.patch(f"/users/{user_id}", headers=headers, json=body)


def delete_me(headers: dict[str, str]) -> Send:
    return lambda client: client.delete("/users/me", headers=headers)


def fresh_pair(clients: list[httpx.Client], engine: Engine, round_number: int) -> list[Pair]:
    """Two new superusers, the only active ones: earlier rounds' survivors are demoted."""
    with engine.begin() as connection:
        connection.execute(update(User).values(is_superuser=False))
    return [
        superuser_on(client, engine, f"admin{index}-{round_number}@example.com")
        for index, client in enumerate(clients)
    ]


@pytest.mark.parametrize("flag", ["is_superuser", "is_active"])
def test_two_superusers_clearing_each_others_flag_at_once_leave_one_active_superuser(
    clients: list[httpx.Client], db_engine: Engine, flag: str
) -> None:
    for round_number in range(ROUNDS):
        (first, first_headers), (second, second_headers) = fresh_pair(
            clients, db_engine, round_number
        )

        responses = at_the_same_moment(
            clients,
            [
                patch(second, first_headers, {flag: False}),
                patch(first, second_headers, {flag: False}),
            ],
        )

        winners = [response for response in responses if response.status_code == 200]
        (loser,) = [response for response in responses if response.status_code != 200]
        assert len(winners) == 1
        if loser.status_code == 409:
            assert_error(loser, 409, "last_superuser", flag)
        else:
            # Checked after the winner's commit, the loser is no longer allowed at all.
            assert loser.status_code == LATE_LOSER[flag], loser.text
        assert active_superusers(db_engine) == 1


def test_two_superusers_deleting_themselves_at_once_leave_one_active_superuser(
    clients: list[httpx.Client], db_engine: Engine
) -> None:
    for round_number in range(ROUNDS):
        (_, first_headers), (_, second_headers) = fresh_pair(clients, db_engine, round_number)

        responses = at_the_same_moment(
            clients, [delete_me(first_headers), delete_me(second_headers)]
        )

        assert sorted(response.status_code for response in responses) == [204, 409]
        refused = next(response for response in responses if response.status_code == 409)
        assert_error(refused, 409, "last_superuser", None)
        assert active_superusers(db_engine) == 1
