"""GET /health and GET /health/db."""

import logging
import socket
import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from service.throttling import REDIS_TIMEOUT_SECONDS
from tests.helpers import TEST_REDIS_URL, assert_error
from tests.servers import free_port

UNREACHABLE_DATABASE = "postgresql+psycopg2://postgres@127.0.0.1:1/nowhere"
REDIS_URL = TEST_REDIS_URL


@pytest.fixture
def closed_redis_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.fixture
def silent_redis_url() -> Iterator[str]:
    """A port that takes connections but never answers, like a hung Redis."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"


def test_health_is_200_ok(client: TestClient) -> None:
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_health_db_is_200_reachable(client: TestClient) -> None:
    response = client.get("/health/db")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "db": "reachable", "throttling_store": "database"}


def test_health_db_names_redis_as_the_throttling_store_when_it_answers(
    make_client: Callable[..., TestClient],
) -> None:
    response = make_client(redis_url=REDIS_URL).get("/health/db")

    assert response.status_code == 200, response.text
    assert response.json()["throttling_store"] == "redis"


def test_health_db_says_throttling_is_off_when_it_is_switched_off(
    make_client: Callable[..., TestClient],
) -> None:
    response = make_client(rate_limit_enabled=False).get("/health/db")

    assert response.json()["throttling_store"] == "off"


def test_health_db_is_503_naming_the_throttling_store_when_redis_is_down(
    make_client: Callable[..., TestClient], closed_redis_url: str
) -> None:
    response = make_client(redis_url=closed_redis_url).get("/health/db")

    (entry,) = assert_error(response, 503, "service_unavailable", None)
    assert "throttling store (Redis)" in entry["message"]
    assert response.headers["retry-after"] == "5"


def test_health_db_and_login_agree_when_redis_is_down(
    make_client: Callable[..., TestClient], closed_redis_url: str
) -> None:
    down = make_client(redis_url=closed_redis_url)

    login = down.post("/login", data={"username": "ada@example.com", "password": "x" * 10})

    assert login.status_code == 503
    assert down.get("/health/db").status_code == 503


def test_health_db_logs_the_throttling_store_not_the_database_when_redis_is_down(
    make_client: Callable[..., TestClient], closed_redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    down = make_client(redis_url=closed_redis_url)

    with caplog.at_level(logging.WARNING):
        down.get("/health/db")

    logged = [record.getMessage() for record in caplog.records]
    assert any("throttling store unavailable" in message for message in logged), logged
    assert not any("database unavailable" in message for message in logged), logged


def test_health_db_answers_within_the_redis_timeout_when_redis_hangs(
    make_client: Callable[..., TestClient], silent_redis_url: str
) -> None:
    hung = make_client(redis_url=silent_redis_url)

    started = time.monotonic()
    response = hung.get("/health/db")

    assert response.status_code == 503
    assert time.monotonic() - started < REDIS_TIMEOUT_SECONDS * 3


def test_health_db_is_503_when_the_database_does_not_answer(
    make_client: Callable[..., TestClient],
) -> None:
    down = make_client(database_url=UNREACHABLE_DATABASE)

    response = down.get("/health/db")

    assert_error(response, 503, "service_unavailable", None)


def test_health_is_200_when_the_database_does_not_answer(
    make_client: Callable[..., TestClient],
) -> None:
    down = make_client(database_url=UNREACHABLE_DATABASE)

    assert down.get("/health").status_code == 200


def test_routes_needing_the_database_are_503_when_it_does_not_answer(
    make_client: Callable[..., TestClient],
) -> None:
    down = make_client(database_url=UNREACHABLE_DATABASE)

    response = down.post("/login", data={"username": "ada@example.com", "password": "x" * 10})

    assert response.status_code == 503
    assert response.json()["errors"][0]["code"] == "service_unavailable"
    assert "psycopg2" not in response.text


def test_a_login_refused_while_redis_is_down_logs_the_throttling_store_not_the_database(
    make_client: Callable[..., TestClient], closed_redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    down = make_client(redis_url=closed_redis_url)

    with caplog.at_level(logging.WARNING):
        down.post("/login", data={"username": "ada@example.com", "password": "x" * 10})

    logged = [record.getMessage() for record in caplog.records]
    assert any("throttling store unavailable" in message for message in logged), logged
    assert not any("database unavailable" in message for message in logged), logged
