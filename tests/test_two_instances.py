"""Two real server processes on one database: throttling counters, refresh-token
rotation and sign-outs hold across instances, as behind a load balancer."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import Engine, func, select

from service.models import RateLimitCounter
from tests.helpers import STRONG_PASSWORD, TEST_REDIS_URL, assert_error
from tests.servers import ServerProcess, start_servers, stop_servers

REDIS_URL = TEST_REDIS_URL
NEW_PASSWORD = "quartz-meadow-violin-77"
PER_ACCOUNT_LIMIT = 4
THROTTLING = {
    "LOGIN_LIMIT_PER_ACCOUNT": f"{PER_ACCOUNT_LIMIT}/hour",
    "LOGIN_LIMIT_PER_ACCOUNT_ADDRESS": "1000/minute",
    "LOGIN_LIMIT_PER_ADDRESS": "1000/hour",
}


def running_pair(
    database_url: str, workdir: Path, env: dict[str, str]
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    servers = start_servers(2, database_url=database_url, workdir=workdir, env=env)
    try:
        yield servers[0], servers[1]
    finally:
        stop_servers(servers)


@pytest.fixture(scope="module")
def pair(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    yield from running_pair(database_url, tmp_path_factory.mktemp("pair"), THROTTLING)


@pytest.fixture(scope="module")
def redis_pair(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    env = {**THROTTLING, "REDIS_URL": REDIS_URL}
    yield from running_pair(database_url, tmp_path_factory.mktemp("redis-pair"), env)


@pytest.fixture
def clients(pair: tuple[ServerProcess, ServerProcess]) -> Iterator[list[httpx.Client]]:
    opened = [server.client() for server in pair]
    yield opened
    for client in opened:
        client.close()


@pytest.fixture
def redis_db() -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(REDIS_URL)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


@pytest.fixture
def redis_clients(
    redis_db: redis.Redis, redis_pair: tuple[ServerProcess, ServerProcess]
) -> Iterator[list[httpx.Client]]:
    opened = [server.client() for server in redis_pair]
    yield opened
    for client in opened:
        client.close()


def sign_up(client: httpx.Client, email: str = "ada@example.com") -> None:
    response = client.post("/users", json={"email": email, "password": STRONG_PASSWORD})
    assert response.status_code == 201, response.text


def log_in(client: httpx.Client, password: str = STRONG_PASSWORD) -> dict[str, str]:
    response = client.post("/login", data={"username": "ada@example.com", "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def fail(client: httpx.Client) -> httpx.Response:
    return client.post("/login", data={"username": "ada@example.com", "password": "wrong-guess-1"})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def alternate_failures(clients: list[httpx.Client], count: int) -> list[int]:
    return [fail(clients[index % 2]).status_code for index in range(count)]


# Throttling counters in the database


def test_the_servers_are_two_processes(pair: tuple[ServerProcess, ServerProcess]) -> None:
    first, second = pair
    assert first.port != second.port
    assert first.process is not None
    assert second.process is not None
    assert first.process.pid != second.process.pid


def test_per_account_limit_holds_across_instances(clients: list[httpx.Client]) -> None:
    sign_up(clients[0])

    statuses = alternate_failures(clients, PER_ACCOUNT_LIMIT)

    assert statuses == [401] * PER_ACCOUNT_LIMIT


@pytest.mark.parametrize("instance", [0, 1])
def test_attempt_past_the_limit_is_429_on_either_instance(
    clients: list[httpx.Client], instance: int
) -> None:
    sign_up(clients[0])
    alternate_failures(clients, PER_ACCOUNT_LIMIT)

    response = fail(clients[instance])

    assert_error(response, 429, "rate_limited", None)
    assert int(response.headers["retry-after"]) > 0


def test_throttled_correct_password_is_429_on_the_other_instance(
    clients: list[httpx.Client],
) -> None:
    sign_up(clients[0])
    alternate_failures(clients, PER_ACCOUNT_LIMIT)

    response = clients[1].post(
        "/login", data={"username": "ada@example.com", "password": STRONG_PASSWORD}
    )

    assert response.status_code == 429


def test_counters_of_both_instances_are_in_the_database(
    clients: list[httpx.Client], db_engine: Engine
) -> None:
    alternate_failures(clients, 2)

    with db_engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(RateLimitCounter)) >= 3


# Sessions across instances


def test_refresh_token_rotated_on_one_instance_is_reuse_on_the_other(
    clients: list[httpx.Client],
) -> None:
    sign_up(clients[0])
    first = log_in(clients[0])
    assert clients[0].post("/refresh", json={"refresh_token": first["refresh_token"]}).is_success

    reused = clients[1].post("/refresh", json={"refresh_token": first["refresh_token"]})

    assert_error(reused, 401, "invalid_token")


def test_reuse_on_the_other_instance_revokes_the_newest_token(
    clients: list[httpx.Client],
) -> None:
    sign_up(clients[0])
    first = log_in(clients[0])
    newest = clients[0].post("/refresh", json={"refresh_token": first["refresh_token"]}).json()
    clients[1].post("/refresh", json={"refresh_token": first["refresh_token"]})

    response = clients[0].post("/refresh", json={"refresh_token": newest["refresh_token"]})

    assert response.status_code == 401
    assert clients[0].get("/users/me", headers=bearer(newest["access_token"])).status_code == 401


def test_password_change_on_one_instance_signs_the_other_session_out_on_the_other(
    clients: list[httpx.Client],
) -> None:
    sign_up(clients[0])
    here = log_in(clients[0])
    there = log_in(clients[1])

    changed = clients[0].post(
        "/users/me/password",
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(here["access_token"]),
    )

    assert changed.status_code == 204, changed.text
    assert clients[1].get("/users/me", headers=bearer(there["access_token"])).status_code == 401
    assert clients[1].post(
        "/refresh", json={"refresh_token": there["refresh_token"]}
    ).status_code == (401)


def test_session_that_changed_the_password_stays_signed_in_on_the_other_instance(
    clients: list[httpx.Client],
) -> None:
    sign_up(clients[0])
    here = log_in(clients[0])
    clients[0].post(
        "/users/me/password",
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(here["access_token"]),
    )

    response = clients[1].post("/refresh", json={"refresh_token": here["refresh_token"]})

    assert response.status_code == 200
    assert clients[1].get("/users/me", headers=bearer(response.json()["access_token"])).is_success


# Throttling counters in Redis


def test_per_account_limit_holds_across_instances_with_redis(
    redis_clients: list[httpx.Client],
) -> None:
    sign_up(redis_clients[0])
    statuses = alternate_failures(redis_clients, PER_ACCOUNT_LIMIT)

    last = [fail(client) for client in redis_clients]

    assert statuses == [401] * PER_ACCOUNT_LIMIT
    for response in last:
        assert_error(response, 429, "rate_limited", None)


def test_counters_of_both_instances_are_in_redis(
    redis_clients: list[httpx.Client], redis_db: redis.Redis, db_engine: Engine
) -> None:
    alternate_failures(redis_clients, 2)

    assert redis_db.keys("*")
    with db_engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(RateLimitCounter)) == 0
