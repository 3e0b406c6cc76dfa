"""Fixed-window counting for the throttle: a hit, a slot given back, or a
look, each answering the count and when its window ends, in the one round
trip to the store that counts (the database's statement, or one Redis script).

So the RateLimit headers read the very counters the limits are enforced on,
at no extra cost on the hot path (a refresh counts in one statement, as before).
"""

import time
from typing import NamedTuple

from limits import RateLimitItem
from limits.errors import StorageError
from limits.storage import RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter
from redis.commands.core import Script

from service.ratelimit_storage import DatabaseStorage

# limits' own incr_expire.lua (same keys, same expiry rule, so both count one
# counter), answering the time left too.
_REDIS_HIT = """
local amount = tonumber(ARGV[2])
local current = redis.call('incrby', KEYS[1], amount)
if tonumber(current) == amount then
  redis.call('expire', KEYS[1], ARGV[1])
end
return {current, redis.call('pttl', KEYS[1])}
"""

# Redis has no "decrement if it exists": without the check an expired
# counter would come back as -1 with no expiry.
_REDIS_GIVE_BACK = """
local current = tonumber(redis.call('get', KEYS[1]) or '0')
if current > 0 then
  current = redis.call('decr', KEYS[1])
end
return {current, redis.call('pttl', KEYS[1])}
"""


class Window(NamedTuple):
    """A counter as it stands: its count, and when (epoch seconds) it restarts."""

    count: int
    reset_at: float


class Counters:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.limiter = FixedWindowRateLimiter(storage)
        self._redis = storage if isinstance(storage, RedisStorage) else None
        if self._redis is not None:
            connection = self._redis.get_connection()
            self._redis_hit = connection.register_script(_REDIS_HIT)
            self._redis_give_back = connection.register_script(_REDIS_GIVE_BACK)

    def hit(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> Window:
        """Count one more; over `item.amount` means refused (as limits' hit says)."""
        key = item.key_for(*identifiers)
        if isinstance(self.storage, DatabaseStorage):
            return Window(*self.storage.incr_window(key, item.get_expiry()))
        if self._redis is not None:
            return self._in_redis(self._redis, self._redis_hit, key, item.get_expiry(), 1)
        return Window(self.storage.incr(key, item.get_expiry()), self.storage.get_expiry(key))

    def give_back(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> Window:
        """One less in a live window; an expired or empty counter stays as it is."""
        key = item.key_for(*identifiers)
        if isinstance(self.storage, DatabaseStorage):
            left = self.storage.give_back(key)
            # Nothing to give back in a window that has passed: look at what is there.
            return Window(*left) if left is not None else self.peek(item, identifiers)
        if self._redis is not None:
            return self._in_redis(self._redis, self._redis_give_back, key)
        return self.peek(item, identifiers)

    def peek(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> Window:
        """The counter as it stands, counting nothing (off the hot path: two reads)."""
        stats = self.limiter.get_window_stats(item, *identifiers)
        return Window(item.amount - stats.remaining, stats.reset_time)

    @staticmethod
    def _in_redis(redis: RedisStorage, script: Script, key: str, *args: int) -> Window:
        try:
            count, ttl_ms = script([redis.prefixed_key(key)], list(args))
        except redis.base_exceptions as exc:
            # As limits' own calls are wrapped: a Redis outage is one StorageError, a 503.
            raise StorageError(exc) from exc
        return Window(int(count), time.time() + max(int(ttl_ms), 0) / 1000)
