"""Throttling of logins, sign-ups, refreshes and recovery mail, counted where
every worker and instance sees the same numbers (the database, or Redis).

Every attempt takes its slot atomically *before* the work it guards (the
password check, the hash, the mail), so attempts that arrive together can
never be evaluated more often than a limit allows; a successful login gives
back the slots it took of the limits meant for failures.

Logins are counted three ways:

- per account and client (an IPv6 client is its /64), with a short window:
  someone guessing at one account from one place is slowed at once, and the
  owner who mistyped waits only that window;
- per account from anywhere, with a window of a few minutes: it bounds a
  distributed attacker's guesses (8 per 5 minutes by default) yet blocks
  the owner on a new address for one window at most, and never on an address
  the account logged in from in the last `known_address_days`;
- per client address over all accounts, against credential stuffing; an IPv6
  network (/48) gets `ipv6_network_factor` times that limit on top.

Reset mail is bounded per account without a 429: past the bound the answer
is the same, but no further mail goes out, and the owner uses the link they
already got (the window is no longer than a reset link lives).
"""

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import RedisStorage, Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import Engine

from service.config import Settings
from service.problems import DomainError, Problem
from service.ratelimit_storage import DatabaseStorage
from service.throttle_keys import account_key, client_key, network_key

# The bound on every wait for Redis (connecting, then each command), so an
# outage gives a prompt 503, as the database's bounds do, instead of a hang.
REDIS_TIMEOUT_SECONDS = 2

# Redis has no "decrement if it exists": without the check an expired
# counter would come back as -1 with no expiry.
_REDIS_GIVE_BACK = """
if redis.call('exists', KEYS[1]) == 1 and tonumber(redis.call('get', KEYS[1])) > 0 then
  return redis.call('decr', KEYS[1])
end
return 0
"""


def throttled(retry_after: int) -> DomainError:
    return DomainError(Problem.RATE_LIMITED, retry_after=retry_after)


_Slot = tuple[RateLimitItem, tuple[str, ...]]


@dataclass(frozen=True)
class LoginAttempt:
    """The slots one login took before its password was checked."""

    account: str
    client: str
    known_address: bool
    slots: tuple[_Slot, ...]


class Throttle:
    def __init__(self, storage: Storage, settings: Settings) -> None:
        self.storage = storage
        self.limiter = FixedWindowRateLimiter(storage)
        self.login_per_account_address = parse(settings.login_limit_per_account_address)
        self.login_per_account = parse(settings.login_limit_per_account)
        self.login_per_address = parse(settings.login_limit_per_address)
        self.signup_per_address = parse(settings.signup_limit_per_address)
        self.refresh_per_address = parse(settings.refresh_limit_per_address)
        self.known_address_seconds = settings.known_address_days * 24 * 3600
        self.forgot_per_address = parse(settings.forgot_limit_per_address)
        self.forgot_per_account = parse(settings.forgot_limit_per_account)
        self.verify_per_account = parse(settings.verify_limit_per_account)
        self.ipv6_network_factor = settings.ipv6_network_factor
        self._redis_give_back = (
            storage.get_connection().register_script(_REDIS_GIVE_BACK)
            if isinstance(storage, RedisStorage)
            else None
        )

    # Logins

    def start_login(self, email: str, ip: str | None) -> LoginAttempt:
        """Take this login's slots, or 429 if any limit is spent; `email` is normalized."""
        account, client = account_key(email), client_key(ip)
        known = self._known(account, client)
        slots = [
            (self.login_per_account_address, ("login-account-address", account, client)),
            *self._per_client(self.login_per_address, "login-address", client),
        ]
        if not known:
            slots.append((self.login_per_account, ("login-account", account)))
        self._take(slots)
        return LoginAttempt(account, client, known, tuple(slots))

    def login_failed(self, attempt: LoginAttempt) -> None:
        if attempt.known_address:
            # Not refused for it, but counted towards the account's bound all the same.
            self.limiter.hit(self.login_per_account, "login-account", attempt.account)

    def login_succeeded(self, attempt: LoginAttempt) -> None:
        """Give back the slots meant for failures; (re)start the address's time as known."""
        own, *rest = attempt.slots
        self.limiter.clear(own[0], *own[1])
        for item, identifiers in rest:
            self._give_back(item, identifiers)
        known_key = self._known_key(attempt.account, attempt.client)
        self.storage.clear(known_key)
        self.storage.incr(known_key, self.known_address_seconds)

    def clear_login_failures(self, email: str, ip: str | None) -> None:
        """The owner proved control of the mailbox (a reset): let them log in at once."""
        account = account_key(email)
        self.limiter.clear(
            self.login_per_account_address, "login-account-address", account, client_key(ip)
        )
        self.limiter.clear(self.login_per_account, "login-account", account)

    # Other routes

    def spend_signup(self, ip: str | None) -> None:
        self._take(self._per_client(self.signup_per_address, "signup-address", client_key(ip)))

    def spend_refresh(self, ip: str | None) -> None:
        self._take([(self.refresh_per_address, ("refresh-address", client_key(ip)))])

    def spend_forgot(self, email: str, ip: str | None) -> bool:
        """429 past the client's limit; whether the account may be mailed once
        more. Counted whether or not the account exists, so nothing tells of it."""
        self._take(self._per_client(self.forgot_per_address, "forgot-address", client_key(ip)))
        return self.limiter.hit(self.forgot_per_account, "forgot-account", account_key(email))

    def spend_verify(self, user_id: int) -> None:
        self._take([(self.verify_per_account, ("verify-account", str(user_id)))])

    def may_send_verification(self, user_id: int) -> bool:
        """Like `spend_verify`, for messages the service sends unasked: no 429, just no mail."""
        return self.limiter.hit(self.verify_per_account, "verify-account", str(user_id))

    def spend_email_change(self, user_id: int) -> None:
        # A link that proves a mailbox, like verification's and under its limit,
        # but counted apart: it goes to an address of the user's choosing, not
        # to its own, and neither kind should use up the other's.
        self._take([(self.verify_per_account, ("email-change-account", str(user_id)))])

    @property
    def store_name(self) -> str:
        """Where the counters are, as the health answer names it."""
        return "redis" if isinstance(self.storage, RedisStorage) else "database"

    def store_is_up(self) -> bool:
        return bool(self.storage.check())

    # Counting

    def _per_client(self, item: RateLimitItem, name: str, client: str) -> list[_Slot]:
        slots: list[_Slot] = [(item, (name, client))]
        network = network_key(client)
        if network is not None and self.ipv6_network_factor > 1:
            wider = type(item)(item.amount * self.ipv6_network_factor, item.multiples)
            slots.append((wider, (name + "-network", network)))
        return slots

    def _take(self, slots: list[_Slot]) -> None:
        for item, identifiers in slots:
            if not self.limiter.hit(item, *identifiers):
                raise throttled(self._retry_after(item, identifiers))

    def _give_back(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> None:
        key = item.key_for(*identifiers)
        if isinstance(self.storage, DatabaseStorage):
            self.storage.give_back(key)
        elif isinstance(self.storage, RedisStorage) and self._redis_give_back is not None:
            try:
                self._redis_give_back([self.storage.prefixed_key(key)])
            except self.storage.base_exceptions as exc:
                raise StorageError(exc) from exc

    def _known(self, account: str, client: str) -> bool:
        return self.storage.get(self._known_key(account, client)) > 0

    @staticmethod
    def _known_key(account: str, client: str) -> str:
        return f"known-address/{account}/{client}"

    def _retry_after(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> int:
        reset_at = self.limiter.get_window_stats(item, *identifiers).reset_time
        return max(1, math.ceil(reset_at - time.time()))


class NoThrottle(Throttle):
    """Throttling switched off (RATE_LIMIT_ENABLED=false), e.g. for benchmarks."""

    def __init__(self) -> None:
        pass

    def start_login(self, email: str, ip: str | None) -> LoginAttempt:
        return LoginAttempt("", "", True, ())

    def login_failed(self, attempt: LoginAttempt) -> None:
        return None

    def login_succeeded(self, attempt: LoginAttempt) -> None:
        return None

    def clear_login_failures(self, email: str, ip: str | None) -> None:
        return None

    def spend_signup(self, ip: str | None) -> None:
        return None

    def spend_refresh(self, ip: str | None) -> None:
        return None

    def spend_forgot(self, email: str, ip: str | None) -> bool:
        return True

    def spend_verify(self, user_id: int) -> None:
        return None

    def may_send_verification(self, user_id: int) -> bool:
        return True

    def spend_email_change(self, user_id: int) -> None:
        return None

    @property
    def store_name(self) -> str:
        return "off"

    def store_is_up(self) -> bool:
        return True


def make_throttle(settings: Settings, engine: Engine) -> Throttle:
    """Counters in Redis when REDIS_URL is set, else in the service's database."""
    if not settings.rate_limit_enabled:
        return NoThrottle()
    storage: Storage
    if settings.redis_url:
        # Wrapped, so an unreachable Redis is one StorageError: a 503, like a database outage.
        storage = storage_from_string(
            settings.redis_url,
            wrap_exceptions=True,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
    else:
        storage = DatabaseStorage(engine)
    return Throttle(storage, settings)
