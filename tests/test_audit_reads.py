"""The audit trail read back (pages, who may read whose), pruned, and
written whatever happens: a trail that cannot write fails no request, a
shutdown writes what is pending, two server processes both write."""

import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from threading import Barrier

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text, update

from service.database import migrate
from service.models import AuthEvent
from tests.helpers import (
    STRONG_PASSWORD,
    Account,
    assert_error,
    auth_headers,
    events_of,
    login,
    login_response,
    refresh,
    register,
    signup,
    stored_events,
)
from tests.servers import ServerProcess, client_of, start_servers, stop_servers

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MakeClient = Callable[..., TestClient]
LOGINS_PER_SERVER = 6
ROOMY = "1000/minute"


def refreshes(client: TestClient, account: Account, count: int) -> None:
    """`count` more events of the account's login."""
    token = account.refresh_token
    for _ in range(count):
        token = refresh(client, token).json()["refresh_token"]


def test_events_are_newest_first(client: TestClient, user: Account) -> None:
    refreshes(client, user, 3)

    ids = [event["id"] for event in events_of(client, user.headers)]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == 5


def test_pages_follow_next_before_through_every_event_once(
    client: TestClient, user: Account
) -> None:
    refreshes(client, user, 3)
    seen: list[int] = []
    before = None
    for _ in range(5):
        params = {"limit": 2} if before is None else {"limit": 2, "before": before}
        page = client.get("/users/me/events", headers=user.headers, params=params).json()
        seen += [event["id"] for event in page["events"]]
        before = page["next_before"]
        if before is None:
            break

    everything = [event["id"] for event in events_of(client, user.headers)]
    assert seen == everything
    assert before is None


def test_a_page_that_ends_the_trail_has_no_next_before(client: TestClient, user: Account) -> None:
    page = client.get("/users/me/events", headers=user.headers, params={"limit": 2}).json()

    assert len(page["events"]) == 2
    assert page["next_before"] is None


def test_before_gives_only_older_events(client: TestClient, user: Account) -> None:
    refreshes(client, user, 2)
    newest = events_of(client, user.headers)[0]["id"]

    older = events_of(client, user.headers, before=newest)
    assert older
    assert all(event["id"] < newest for event in older)


@pytest.mark.parametrize(("name", "value"), [("limit", 0), ("limit", 101), ("before", 0)])
def test_limit_and_before_out_of_bounds_are_422(
    client: TestClient, user: Account, name: str, value: int
) -> None:
    response = client.get("/users/me/events", headers=user.headers, params={name: value})

    assert_error(response, 422, "invalid_value", name)


def test_events_need_a_signed_in_user(client: TestClient) -> None:
    assert_error(client.get("/users/me/events"), 401, "not_authenticated")


def test_a_user_reads_its_own_events_by_id(client: TestClient, user: Account) -> None:
    response = client.get(f"/users/{user.id}/events", headers=user.headers)

    assert response.status_code == 200
    assert response.json()["events"] == events_of(client, user.headers)


@pytest.mark.parametrize("whose", ["another", "unknown"])
def test_a_non_superuser_reading_another_users_events_is_403(
    client: TestClient, user: Account, other_user: Account, whose: str
) -> None:
    user_id = other_user.id if whose == "another" else 9999

    response = client.get(f"/users/{user_id}/events", headers=user.headers)

    assert_error(response, 403, "forbidden")


def test_a_superuser_reads_anyones_events(
    client: TestClient, user: Account, superuser: Account
) -> None:
    response = client.get(f"/users/{user.id}/events", headers=superuser.headers)

    assert response.status_code == 200
    assert response.json()["events"] == events_of(client, user.headers)


def test_a_superuser_asking_for_an_unknown_users_events_gets_404(
    client: TestClient, superuser: Account
) -> None:
    response = client.get("/users/9999/events", headers=superuser.headers)

    assert_error(response, 404, "not_found")


def test_prune_deletes_events_past_the_retention_and_keeps_newer_ones(
    client: TestClient, user: Account, database_url: str, db_engine: Engine
) -> None:
    old, *new = [event.id for event in stored_events(client, db_engine)]
    with db_engine.begin() as connection:
        connection.execute(
            update(AuthEvent)
            .where(AuthEvent.id == old)
            .values(at=datetime.now(UTC) - timedelta(days=31))
        )

    result = subprocess.run(
        [sys.executable, "-m", "service", "prune"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": database_url, "AUDIT_RETENTION_DAYS": "30"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "1 audit events older than 30 days" in result.stdout
    assert [event.id for event in stored_events(client, db_engine)] == new


@pytest.fixture
def database_without_the_trail(tmp_path: Path) -> str:
    """A test-only database whose auth_events table is gone: every insert fails."""
    url = f"sqlite:///{tmp_path / 'no-trail.db'}"
    migrate(url)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE auth_events"))
    engine.dispose()
    return url


def test_a_trail_that_cannot_write_fails_no_request(
    make_client: MakeClient, database_without_the_trail: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(database_url=database_without_the_trail)
    account = register(client)

    with caplog.at_level(logging.WARNING, logger="service.audit"):
        assert refresh(client, account.refresh_token).status_code == 200
        assert login_response(client, account.email, "wrong-guess-000").status_code == 401
        assert client.app.state.audit.flush()  # type: ignore[attr-defined]

    assert "events not written: OperationalError" in caplog.text


def test_shutdown_writes_the_events_still_pending(
    make_client: MakeClient, db_engine: Engine
) -> None:
    client = make_client()
    signup(client)
    login(client, "ada@example.com", STRONG_PASSWORD)

    client.__exit__(None, None, None)

    with db_engine.connect() as connection:
        kinds = connection.execute(text("SELECT kind FROM auth_events ORDER BY id")).scalars()
        assert list(kinds) == ["user_created", "login_succeeded"]


@pytest.fixture
def two_servers(database_url: str, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    env = {"LOGIN_LIMIT_PER_ACCOUNT_ADDRESS": ROOMY, "LOGIN_LIMIT_PER_ACCOUNT": ROOMY}
    servers = start_servers(2, database_url=database_url, workdir=tmp_path, env=env)
    yield servers
    stop_servers(servers)


def test_two_server_processes_both_write_their_events(two_servers: list[ServerProcess]) -> None:
    with client_of(two_servers) as first:
        created = first.post(
            "/users", json={"email": "ada@example.com", "password": STRONG_PASSWORD}
        )
        assert created.status_code == 201, created.text
    logins = 2 * LOGINS_PER_SERVER
    barrier = Barrier(logins)

    def log_in(index: int) -> str:
        with client_of(two_servers, index) as client:
            barrier.wait()
            form = {"username": "ada@example.com", "password": STRONG_PASSWORD}
            response = client.post("/login", data=form)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    with ThreadPoolExecutor(max_workers=logins) as pool:
        tokens = list(pool.map(log_in, range(logins)))

    # Each read writes its own server's pending events first: the second sees all.
    for index in (1, 0):
        with client_of(two_servers, index) as client:
            page = events_of(client, auth_headers(tokens[index]))
    kinds = [event["kind"] for event in page]
    assert kinds.count("login_succeeded") == logins
    assert kinds.count("user_created") == 1
    assert len({event["id"] for event in page}) == len(page)
