"""The throwaway PostgreSQL database a benchmark runs on."""

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
from core import HOST, ROOT, HarnessError, log
from psycopg2 import sql

PORT = 5432
USER = "postgres"
ADMIN_DSN = f"host={HOST} port={PORT} user={USER} dbname=postgres connect_timeout=5"
MIGRATE_TIMEOUT_S = 120


def database_url(name: str) -> str:
    return f"postgresql+psycopg2://{USER}@{HOST}:{PORT}/{name}"


@contextmanager
def throwaway_database(name: str) -> Iterator[str]:
    """Create `name`, migrate it, yield its URL; drop it afterwards whatever happened."""
    _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    log(f"created database {name}")
    try:
        url = database_url(name)
        migrate(url)
        yield url
    finally:
        # FORCE: a server killed mid-request may leave a backend behind.
        _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        log(f"dropped database {name}")


def session_count(name: str) -> int | None:
    """Connections ever opened to database `name`: their growth over a run is pool churn."""
    try:
        connection = psycopg2.connect(ADMIN_DSN)
    except psycopg2.OperationalError:
        return None
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (name,))
            row = cursor.fetchone()
    finally:
        connection.close()
    return int(row[0]) if row else None


def migrate(url: str) -> None:
    """The service's own migration entry point, in a child so Alembic's logging stays there."""
    code = "import sys; from service.database import migrate; migrate(sys.argv[1])"
    done = subprocess.run(  # noqa: S603 - our own argv, no shell
        [sys.executable, "-c", code, url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=MIGRATE_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise HarnessError(f"migrations failed:\n{done.stderr[-3000:]}")


def _admin(statement: sql.Composable) -> None:
    try:
        connection = psycopg2.connect(ADMIN_DSN)
    except psycopg2.OperationalError as exc:
        raise HarnessError(f"PostgreSQL at {HOST}:{PORT} is not reachable: {exc}") from exc
    try:
        # CREATE/DROP DATABASE cannot run inside a transaction.
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement)
    except psycopg2.Error as exc:
        raise HarnessError(f"PostgreSQL refused {statement.as_string(connection)}: {exc}") from exc
    finally:
        connection.close()
