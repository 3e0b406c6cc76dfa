"""A `limits` storage on the service's own database, so every worker and
every instance counts together without another server to run.
"""

import time
from typing import Any

from limits.storage import Storage
from sqlalchemy import Engine, bindparam, case, delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from service.models import RateLimitCounter


class DatabaseStorage(Storage):
    """Fixed-window counters in the `rate_limits` table.

    Each call is one short statement in its own transaction: a counter must be
    seen by the next request whichever worker serves it.
    """

    STORAGE_SCHEME = ["accounts+database"]

    def __init__(self, engine: Engine) -> None:
        super().__init__(wrap_exceptions=False)
        self.engine = engine
        dialect_insert: Any = (
            postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        )
        self._incr = _counting_upsert(dialect_insert)

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return self.incr_window(key, expiry, amount)[0]

    def incr_window(self, key: str, expiry: int, amount: int = 1) -> tuple[int, float]:
        """The count after this increment and when its window ends, from the
        one statement that counts (what the RateLimit headers need costs no query)."""
        now = time.time()
        parameters = {"name": key, "amount": amount, "now": now, "window_end": now + expiry}
        with self.engine.begin() as connection:
            count, expires_at = connection.execute(self._incr, parameters).one()
        return int(count), float(expires_at)

    def give_back(self, key: str) -> tuple[int, float] | None:
        """One less in a live window, and the count and window end it leaves;
        an expired or empty counter stays as it is (None)."""
        table = RateLimitCounter.__table__
        with self.engine.begin() as connection:
            row = connection.execute(
                update(table)
                .where(table.c.key == key, table.c.expires_at > time.time(), table.c.count > 0)
                .values(count=table.c.count - 1)
                .returning(table.c.count, table.c.expires_at)
            ).one_or_none()
        return None if row is None else (int(row.count), float(row.expires_at))

    def get(self, key: str) -> int:
        table = RateLimitCounter.__table__
        with self.engine.begin() as connection:
            count = connection.execute(
                select(table.c.count).where(table.c.key == key, table.c.expires_at > time.time())
            ).scalar()
        return int(count or 0)

    def get_expiry(self, key: str) -> float:
        table = RateLimitCounter.__table__
        with self.engine.begin() as connection:
            expires_at = connection.execute(
                select(table.c.expires_at).where(table.c.key == key)
            ).scalar()
        return float(expires_at) if expires_at is not None else time.time()

    def check(self) -> bool:
        try:
            with self.engine.begin() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with self.engine.begin() as connection:
            return connection.execute(delete(RateLimitCounter.__table__)).rowcount

    def clear(self, key: str) -> None:
        table = RateLimitCounter.__table__
        with self.engine.begin() as connection:
            connection.execute(delete(table).where(table.c.key == key))

    def prune(self) -> int:
        """Delete the counters whose window has passed."""
        table = RateLimitCounter.__table__
        with self.engine.begin() as connection:
            return connection.execute(
                delete(table).where(table.c.expires_at <= time.time())
            ).rowcount


def _counting_upsert(dialect_insert: Any) -> Any:
    """The counting statement, built once: an expired window restarts, a live
    one counts on, in one atomic upsert either way."""
    table = RateLimitCounter.__table__
    fresh = dialect_insert(table).values(
        key=bindparam("name"), count=bindparam("amount"), expires_at=bindparam("window_end")
    )
    expired = table.c.expires_at <= bindparam("now")
    return fresh.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={
            "count": case(
                (expired, fresh.excluded.count), else_=table.c.count + bindparam("amount")
            ),
            "expires_at": case((expired, fresh.excluded.expires_at), else_=table.c.expires_at),
        },
    ).returning(table.c.count, table.c.expires_at)
