"""Engine, sessions and migrations."""

import contextlib
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, exc, make_url, text
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool

from service.config import Settings

_PING = text("SELECT 1")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Bounds on every wait for the database, so an outage gives a prompt 503
# instead of a hang: for a pooled connection, for a new connection, for one
# statement, and for a peer that vanished without closing the connection.
CONNECT_TIMEOUT_SECONDS = 5
STATEMENT_TIMEOUT_MS = 10_000
_POSTGRES_CONNECT_ARGS = {
    "connect_timeout": CONNECT_TIMEOUT_SECONDS,
    # Transactions are READ COMMITTED whatever the server's default: set once
    # when connecting, so a session never has to ask for it (see Database).
    "options": (
        f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
        " -c default_transaction_isolation=read\\ committed"
    ),
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}
# A pooled connection idle longer than this is pinged before use; busy ones
# are not, which saves a round trip on every request under load.
IDLE_PING_SECONDS = 10.0


def make_engine(settings: Settings) -> Engine:
    """The engine for `settings`. Statement parameters (password hashes among them)
    are kept out of SQLAlchemy's logs and error messages."""
    if settings.is_sqlite and make_url(settings.database_url).database in (None, "", ":memory:"):
        # One in-memory database lives as long as its one connection: share it.
        engine = create_engine(
            settings.database_url,
            hide_parameters=True,
            connect_args={"check_same_thread": False},
            poolclass=StaticPool,
        )
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    if settings.is_sqlite:
        engine = create_engine(
            settings.database_url,
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": 15},
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    engine = create_engine(
        settings.database_url,
        hide_parameters=True,
        # The pool rests in autocommit, for Database.autocommit; Database.engine leaves it.
        isolation_level="AUTOCOMMIT",
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=CONNECT_TIMEOUT_SECONDS,
        connect_args=_POSTGRES_CONNECT_ARGS,
    )
    event.listen(engine, "connect", _mark_used)
    event.listen(engine, "checkin", _mark_used)
    event.listen(engine, "checkout", _ready_for_checkout)
    return engine


def _mark_used(_dbapi_connection: Any, record: Any) -> None:
    record.info["last_used"] = time.monotonic()


def _ready_for_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Every checkout starts in autocommit, pinged first if it sat idle.

    A connection a session took out of autocommit is put back here rather than
    at check-in, where SQLAlchemy lets a driver error escape and loses the
    connection. Here a failure makes the pool retry with a fresh connection.
    """
    try:
        if not dbapi_connection.autocommit:
            # A flag of the driver's: no round trip.
            dbapi_connection.autocommit = True
    except Exception as error:
        raise exc.DisconnectionError from error
    _ping_if_idle(dbapi_connection, record)


def _ping_if_idle(dbapi_connection: Any, record: Any) -> None:
    """`pool_pre_ping`, for connections that sat idle long enough to have gone stale.

    A connection that died while busy fails its statement instead: that
    request gets a 503, SQLAlchemy discards the pool, and the next ones reconnect.
    """
    if time.monotonic() - record.info.get("last_used", 0.0) < IDLE_PING_SECONDS:
        return
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT 1")
    except Exception as error:
        # The pool retries the checkout with a fresh connection.
        raise exc.DisconnectionError from error
    finally:
        # A dead connection may fail to close its cursor too.
        with contextlib.suppress(Exception):
            cursor.close()


def _leave_autocommit(connection: Connection) -> None:
    """`engine_connect` of `Database.engine` on PostgreSQL: its statements
    run in transactions, READ COMMITTED by the connection's own default.

    Not `execution_options(isolation_level=...)`: on a reused connection that
    sends a SET from where SQLAlchemy does not wrap driver errors, so a
    database gone at that moment escaped as a raw psycopg2 error, a 500.
    """
    dbapi_error = connection.dialect.loaded_dbapi.Error
    try:
        connection.connection.dbapi_connection.autocommit = False
    except dbapi_error as error:
        # As SQLAlchemy does around a statement: discard the broken connection
        # and raise its wrapped error (OperationalError, InterfaceError...).
        connection.invalidate(error)
        connection.close()
        raise exc.DBAPIError.instance(
            None,
            None,
            error,
            dbapi_error,
            hide_parameters=True,
            connection_invalidated=True,
            dialect=connection.dialect,
        ) from error


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Cascading deletes need foreign keys on; WAL lets readers run beside a writer.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """The engines and session factory of one application instance, on one pool.

    `engine` runs transactions: `with database.engine.begin() as connection:`
    and the ORM sessions of `sessions()`, READ COMMITTED on PostgreSQL. It is
    the default; use it unless a statement is on the list below.

    `autocommit` is opted into by name for the hot work that is one statement,
    atomic by itself: checking an access token, rotating a refresh token,
    opening or ending a login, counting a throttled attempt. On PostgreSQL its
    connections run without BEGIN and COMMIT, one round trip instead of three.
    Write `with database.autocommit.begin() as connection:` so the statement
    also commits on SQLite, where both names are one transactional engine.
    """

    def __init__(self, settings: Settings) -> None:
        pool = make_engine(settings)
        self.autocommit = pool
        self.engine = pool
        if not settings.is_sqlite:
            # A copy sharing the pool, with a listener of its own; the pool's
            # connections rest in autocommit (see make_engine).
            self.engine = pool.execution_options()
            event.listen(self.engine, "engine_connect", _leave_autocommit)
        # Loaded objects stay usable after commit: routes answer with them
        # without reloading, and no connection is held just to read them.
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def ping(self) -> None:
        """Raise OperationalError unless the database answers."""
        with self.autocommit.connect() as connection:
            connection.execute(_PING)

    def dispose(self) -> None:
        self.autocommit.dispose()


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    # Passed as an attribute, not an ini option, so '%' in passwords needs no escaping.
    config.attributes["database_url"] = database_url
    return config


def migrate(database_url: str) -> None:
    """Bring the schema at `database_url` to the newest revision."""
    command.upgrade(alembic_config(database_url), "head")
