"""Fixtures: a migrated real database, emptied before each test, and apps on it."""

import os

# Set before the service is imported: its cached settings read the environment once.
os.environ.setdefault("BCRYPT_ROUNDS", "4")
os.environ.setdefault("ENVIRONMENT", "test")
os.environ.setdefault("SECRET_KEY", "test-secret-key-0123456789-abcdefghijklmnopqrst")

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, inspect, text

from service.config import Settings, normalize_database_url
from service.database import migrate
from service.main import create_app
from tests.helpers import (
    OTHER_PASSWORD,
    STRONG_PASSWORD,
    Account,
    promote,
    register,
)
from tests.mailserver import Inbox, MailServer

pytest_plugins = ["tests.browser"]

AppFactory = Callable[..., FastAPI]

# Modules marked `sqlite_only` check what no database changes (validation,
# headers, documents, settings): the SQLite pass runs them, the PostgreSQL pass
# repeats only what touches the database.
SQLITE_ONLY = pytest.StashKey[int]()


def on_postgresql() -> bool:
    return os.environ.get("TEST_DATABASE_URL", "").startswith("postgres")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not on_postgresql():
        return
    once = [item for item in items if item.get_closest_marker("sqlite_only")]
    if once:
        config.hook.pytest_deselected(items=once)
        items[:] = [item for item in items if not item.get_closest_marker("sqlite_only")]
    config.stash[SQLITE_ONLY] = len(once)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    left = config.stash.get(SQLITE_ONLY, 0)
    if left:
        terminalreporter.write_line(
            f"{left} tests marked sqlite_only ran in the SQLite pass, not in this PostgreSQL one"
        )


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        url = f"sqlite:///{tmp_path_factory.mktemp('database') / 'test.db'}"
    migrate(url)
    if on_postgresql():
        _skip_waiting_for_the_disk(url)
    return url


def _skip_waiting_for_the_disk(url: str) -> None:
    """Commits of the test database return before their WAL reaches the disk:
    what a crash could lose, no test needs; what every other session sees, and
    when, is unchanged."""
    engine = create_engine(normalize_database_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            name = connection.scalar(text("SELECT current_database()"))
            connection.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def db_engine(database_url: str) -> Iterator[Engine]:
    # The service's own rule, so Heroku-style URLs work here too.
    engine = create_engine(normalize_database_url(database_url))
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def app_tables(db_engine: Engine) -> list[str]:
    """Every table the migrations made but Alembic's own, children first, so
    new ones are emptied too and no foreign key sees an orphan."""
    parents_first = [
        name
        for name, _ in inspect(db_engine).get_sorted_table_and_fkc_names()
        if name is not None and name != "alembic_version"
    ]
    return parents_first[::-1]


@pytest.fixture(autouse=True)
def _empty_database(db_engine: Engine, app_tables: list[str]) -> None:
    # Each test starts from empty tables, ids from 1, instead of cleaning up
    # after itself, so a failed test cannot leak state into the next one.
    # DELETE rather than TRUNCATE: on tables this small it is several times faster.
    with db_engine.begin() as connection:
        for name in app_tables:
            connection.execute(text(f"DELETE FROM {name}"))  # noqa: S608
        if connection.dialect.name == "postgresql":
            connection.execute(
                text(
                    "SELECT setval(format('%I', sequencename)::regclass, 1, false)"
                    " FROM pg_sequences WHERE schemaname = current_schema()"
                )
            )
            return
        has_sequence = connection.execute(
            text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")
        ).first()
        if has_sequence:
            connection.execute(text("DELETE FROM sqlite_sequence"))


@pytest.fixture
def make_settings(database_url: str, tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "database_url": database_url,
            "environment": "test",
            "secret_key": os.environ["SECRET_KEY"],
            "secret_key_file": str(tmp_path / ".secret_key"),
            "bcrypt_rounds": 4,
            # Strict reuse detection unless a test is about the grace window.
            "refresh_reuse_grace_seconds": 0,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    # As a context manager, so the app's shutdown releases its connections.
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """Clients of apps built with other settings, closed at the end of the test."""
    opened: list[TestClient] = []

    def make(base_url: str = "http://testserver", **overrides: object) -> TestClient:
        test_client = TestClient(create_app(make_settings(**overrides)), base_url=base_url)
        test_client.__enter__()
        opened.append(test_client)
        return test_client

    yield make
    for test_client in reversed(opened):
        test_client.__exit__(None, None, None)


@pytest.fixture
def user(client: TestClient) -> Account:
    return register(client, email="ada@example.com", password=STRONG_PASSWORD)


@pytest.fixture
def other_user(client: TestClient) -> Account:
    return register(client, email="bob@example.com", password=OTHER_PASSWORD)


@pytest.fixture
def superuser(client: TestClient, db_engine: Engine) -> Account:
    return promote(client, db_engine, register(client, email="root@example.com"))


# Mail: a real SMTP server on 127.0.0.1 (tests/mailserver.py), and apps that send to it.


@pytest.fixture
def smtp_server() -> Iterator[MailServer]:
    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture
def inbox(smtp_server: MailServer) -> Inbox:
    return smtp_server.inbox


@pytest.fixture
def make_mail_client(
    smtp_server: MailServer, make_client: Callable[..., TestClient]
) -> Callable[..., TestClient]:
    """Clients of apps that mail through `smtp_server`, with other settings as given.

    The server is set up first so that it is stopped last: the apps' shutdown
    still delivers what their outboxes hold.
    """

    def make(**overrides: object) -> TestClient:
        return make_client(smtp_url=smtp_server.url(), **overrides)

    return make


@pytest.fixture
def mail_client(make_mail_client: Callable[..., TestClient]) -> TestClient:
    return make_mail_client()
