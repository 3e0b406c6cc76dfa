"""Migration 0007 on a database with users and live logins: superusers
become admins, and each open login keeps what its role could do."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from service.config import normalize_database_url
from service.database import alembic_config
from service.scopes import ALLOWED, Role, to_text


def on_postgresql() -> bool:
    return os.environ.get("TEST_DATABASE_URL", "").startswith("postgres")


@pytest.fixture
def empty_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of its own, so the test can take it down to 0006."""
    if not on_postgresql():
        yield f"sqlite:///{tmp_path / 'migration.db'}"
        return
    url = make_url(normalize_database_url(database_url))
    name = f"migration_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def at_0006(empty_database: str) -> Iterator[Engine]:
    command.upgrade(alembic_config(empty_database), "0006")
    engine = create_engine(normalize_database_url(empty_database))
    with engine.begin() as connection:
        for user_id, superuser in ((1, True), (2, False)):
            connection.execute(
                text(
                    "INSERT INTO users (id, email, hashed_password, is_active, is_superuser,"
                    " is_verified, credential_version, created_at, updated_at)"
                    " VALUES (:id, :email, 'x', true, :su, true, 0, :now, :now)"
                ),
                {
                    "id": user_id,
                    "email": f"u{user_id}@example.com",
                    "su": superuser,
                    "now": "2026-12-01",
                },
            )
            connection.execute(
                text(
                    "INSERT INTO refresh_sessions (id, user_id, generation, credential_version,"
                    " created_at, expires_at) VALUES (:sid, :uid, 0, 0, :now, :later)"
                ),
                {
                    "sid": f"{user_id:032d}",
                    "uid": user_id,
                    "now": "2026-12-01",
                    "later": "2027-01-01",
                },
            )
    yield engine
    engine.dispose()


def rows(engine: Engine, sql: str) -> dict:
    with engine.connect() as connection:
        return dict(connection.execute(text(sql)).all())


def test_the_upgrade_makes_every_superuser_an_admin(at_0006: Engine, empty_database: str) -> None:
    command.upgrade(alembic_config(empty_database), "0007")

    assert rows(at_0006, "SELECT id, role FROM users") == {1: "admin", 2: "user"}


def test_the_upgrade_grants_each_open_login_its_roles_whole_set(
    at_0006: Engine, empty_database: str
) -> None:
    command.upgrade(alembic_config(empty_database), "0007")

    assert rows(at_0006, "SELECT user_id, scope FROM refresh_sessions") == {
        1: to_text(ALLOWED[Role.ADMIN]),
        2: to_text(ALLOWED[Role.USER]),
    }


def test_the_downgrade_gives_admins_back_the_superuser_flag(
    at_0006: Engine, empty_database: str
) -> None:
    config = alembic_config(empty_database)
    command.upgrade(config, "0007")
    command.downgrade(config, "0006")

    flags = rows(at_0006, "SELECT id, is_superuser FROM users")
    assert {user_id: bool(flag) for user_id, flag in flags.items()} == {1: True, 2: False}
