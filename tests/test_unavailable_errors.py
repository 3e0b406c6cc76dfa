"""Each way a database can be out of reach, raised from a route: a 503 in the
envelope, logged once, never a 500; while a driver's programming errors stay 500s."""

import sqlite3
from collections.abc import Callable

import psycopg2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import exc

from tests.helpers import assert_error

pytestmark = pytest.mark.sqlite_only

SECRET_PARAMETER = "$2b$04$secret-password-hash"
UNAVAILABLE: dict[str, Callable[[], Exception]] = {
    "psycopg2_operational_error": lambda: psycopg2.OperationalError(
        "server closed the connection unexpectedly"
    ),
    "psycopg2_interface_error": lambda: psycopg2.InterfaceError("connection already closed"),
    "sqlite3_cannot_open": lambda: sqlite3.OperationalError("unable to open database file"),
    "sqlite3_locked": lambda: sqlite3.OperationalError("database is locked"),
    "sqlalchemy_interface_error": lambda: exc.InterfaceError(
        "SELECT * FROM users WHERE hashed_password = %(hash)s",
        {"hash": SECRET_PARAMETER},
        psycopg2.InterfaceError("connection already closed"),
    ),
    "sqlalchemy_disconnection_error": lambda: exc.DisconnectionError("connection gone"),
    "sqlalchemy_pool_timeout": lambda: exc.TimeoutError(
        "QueuePool limit of size 10 overflow 20 reached, connection timed out"
    ),
}
PROGRAMMING_ERRORS: dict[str, Callable[[], Exception]] = {
    "sqlite3_integrity_error": lambda: sqlite3.IntegrityError("UNIQUE constraint failed"),
    "psycopg2_programming_error": lambda: psycopg2.ProgrammingError("syntax error at or near"),
    "sqlalchemy_programming_error": lambda: exc.ProgrammingError(
        "SELEC 1", None, psycopg2.ProgrammingError("syntax error")
    ),
}


@pytest.fixture
def raising(app: FastAPI) -> TestClient:
    """A client of an app with a route that raises the error named in its path."""
    errors = UNAVAILABLE | PROGRAMMING_ERRORS

    async def fail(kind: str) -> None:
        raise errors[kind]()

    app.add_api_route("/raise/{kind}", fail, methods=["GET"])
    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("kind", sorted(UNAVAILABLE))
def test_database_out_of_reach_is_503_service_unavailable(raising: TestClient, kind: str) -> None:
    response = raising.get(f"/raise/{kind}")

    assert_error(response, 503, "service_unavailable", None)


@pytest.mark.parametrize("kind", sorted(UNAVAILABLE))
def test_database_out_of_reach_tells_the_client_when_to_retry(
    raising: TestClient, kind: str
) -> None:
    response = raising.get(f"/raise/{kind}")

    assert int(response.headers["retry-after"]) > 0


@pytest.mark.parametrize("kind", sorted(UNAVAILABLE))
def test_database_out_of_reach_reveals_nothing_internal(raising: TestClient, kind: str) -> None:
    body = raising.get(f"/raise/{kind}").text

    message = str(UNAVAILABLE[kind]()).splitlines()[0]
    for internal in (message, type(UNAVAILABLE[kind]()).__name__, "Traceback", "psycopg2"):
        assert internal not in body


@pytest.mark.parametrize("kind", sorted(UNAVAILABLE))
def test_database_out_of_reach_is_logged_once_without_a_traceback(
    raising: TestClient, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    raising.get(f"/raise/{kind}")

    logged = [record for record in caplog.records if record.levelname in {"WARNING", "ERROR"}]
    assert len(logged) == 1
    assert "database unavailable" in logged[0].getMessage()
    assert logged[0].exc_info is None


def test_database_out_of_reach_is_logged_without_statement_parameters(
    raising: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    raising.get("/raise/sqlalchemy_interface_error")

    assert SECRET_PARAMETER not in caplog.text


@pytest.mark.parametrize("kind", sorted(PROGRAMMING_ERRORS))
def test_driver_programming_error_is_still_500_internal_error(
    raising: TestClient, kind: str
) -> None:
    response = raising.get(f"/raise/{kind}")

    assert_error(response, 500, "internal_error", None)
