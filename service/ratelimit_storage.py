"""A `limits` storage on the service's own database, so every worker and
every instance counts together without another server to run.
"""

import time
from typing import Any

from limits.storage import Storage
from sqlalchemy import Engine, case, delete, select, text
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
        dialect = engine.dialect.name
        self._insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        table = RateLimitCounter.__table__
        fresh = self._insert(table).values(key=key, count=amount, expires_at=now + expiry)
        # An expired window restarts; a live one counts on. One atomic upsert either way.
        expired = table.c.expires_at <= now
        statement = fresh.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "count": _case(expired, fresh.excluded.count, table.c.count + amount),
                "expires_at": _case(expired, fresh.excluded.expires_at, table.c.expires_at),
            },
        ).returning(table.c.count)
        with self.engine.begin() as connection:
            return int(connection.execute(statement).scalar_one())

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


def _case(condition: Any, then: Any, otherwise: Any) -> Any:
    return case((condition, then), else_=otherwise)
