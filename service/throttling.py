"""Throttling of failed logins, sign-ups and refreshes, counted where every
worker and instance sees the same numbers (the database, or Redis).

Failed logins are counted three ways:

- per account and client address, with a short window: someone guessing at
  one account from one place is slowed at once, and the owner who mistyped
  waits only that window;
- per account from anywhere, the ASVS bound of at most 100 failures an hour:
  it blocks every address *except those the account has logged in from
  recently*, so a distributed attacker cannot lock the owner out of their
  usual address;
- per client address over all accounts, against credential stuffing.

A successful login clears the account's counters and remembers the address.
"""

import hashlib
import ipaddress
import math
import time

from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import Engine

from service.config import Settings
from service.errors import ApiError, ErrorCode
from service.ratelimit_storage import DatabaseStorage


def client_key(address: str | None) -> str:
    """The throttling identity of an address: IPv6 clients are counted per /64,
    which is what one subscriber gets."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        # Not an address (a proxy passed on garbage): counted under its digest,
        # so no text of the client's choosing reaches a storage key.
        return "other-" + hashlib.sha256(address.encode(errors="replace")).hexdigest()[:16]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _account_key(email: str) -> str:
    # Counters outlive nothing but their window, yet need not hold addresses in clear.
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def throttled(retry_after: int) -> ApiError:
    return ApiError(
        429,
        ErrorCode.RATE_LIMITED,
        f"Too many attempts; try again in {retry_after} seconds",
        headers={"Retry-After": str(retry_after)},
    )


class Throttle:
    def __init__(
        self,
        storage: Storage,
        *,
        login_per_account_address: str,
        login_per_account: str,
        login_per_address: str,
        signup_per_address: str,
        refresh_per_address: str,
        known_address_days: int,
        forgot_per_address: str,
        forgot_per_account: str,
        verify_per_account: str,
    ) -> None:
        self.storage = storage
        self.limiter = FixedWindowRateLimiter(storage)
        self.login_per_account_address = parse(login_per_account_address)
        self.login_per_account = parse(login_per_account)
        self.login_per_address = parse(login_per_address)
        self.signup_per_address = parse(signup_per_address)
        self.refresh_per_address = parse(refresh_per_address)
        self.known_address_seconds = known_address_days * 24 * 3600
        self.forgot_per_address = parse(forgot_per_address)
        self.forgot_per_account = parse(forgot_per_account)
        self.verify_per_account = parse(verify_per_account)

    def check_login(self, email: str, address: str) -> None:
        """429 if a login for `email` from `address` may not even be tried now."""
        account = _account_key(email)
        checks: list[tuple[RateLimitItem, tuple[str, ...]]] = [
            (self.login_per_account_address, ("login-account-address", account, address)),
            (self.login_per_address, ("login-address", address)),
        ]
        if not self._known(account, address):
            checks.append((self.login_per_account, ("login-account", account)))
        for item, identifiers in checks:
            if not self.limiter.test(item, *identifiers):
                raise throttled(self._retry_after(item, identifiers))

    def login_failed(self, email: str, address: str) -> None:
        account = _account_key(email)
        self.limiter.hit(self.login_per_account_address, "login-account-address", account, address)
        self.limiter.hit(self.login_per_account, "login-account", account)
        self.limiter.hit(self.login_per_address, "login-address", address)

    def login_succeeded(self, email: str, address: str) -> None:
        account = _account_key(email)
        self.limiter.clear(
            self.login_per_account_address, "login-account-address", account, address
        )
        self.limiter.clear(self.login_per_account, "login-account", account)
        self.storage.incr(self._known_key(account, address), self.known_address_seconds)

    def spend_signup(self, address: str) -> None:
        self._spend(self.signup_per_address, ("signup-address", address))

    def spend_refresh(self, address: str) -> None:
        self._spend(self.refresh_per_address, ("refresh-address", address))

    def spend_forgot(self, email: str, address: str) -> None:
        """Counted whether or not the account exists, so a 429 tells nothing of it."""
        self._spend(self.forgot_per_address, ("forgot-address", address))
        self._spend(self.forgot_per_account, ("forgot-account", _account_key(email)))

    def spend_verify(self, user_id: int) -> None:
        self._spend(self.verify_per_account, ("verify-account", str(user_id)))

    def may_send_verification(self, user_id: int) -> bool:
        """Like `spend_verify`, for messages the service sends unasked: no 429, just no mail."""
        return self.limiter.hit(self.verify_per_account, "verify-account", str(user_id))

    def clear_login_failures(self, email: str, address: str) -> None:
        """The owner proved control of the mailbox (a reset): let them log in at once."""
        account = _account_key(email)
        self.limiter.clear(
            self.login_per_account_address, "login-account-address", account, address
        )
        self.limiter.clear(self.login_per_account, "login-account", account)

    def _spend(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> None:
        if not self.limiter.hit(item, *identifiers):
            raise throttled(self._retry_after(item, identifiers))

    def _known(self, account: str, address: str) -> bool:
        return self.storage.get(self._known_key(account, address)) > 0

    @staticmethod
    def _known_key(account: str, address: str) -> str:
        return f"known-address/{account}/{address}"

    def _retry_after(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> int:
        reset_at = self.limiter.get_window_stats(item, *identifiers).reset_time
        return max(1, math.ceil(reset_at - time.time()))


class NoThrottle(Throttle):
    """Throttling switched off (RATE_LIMIT_ENABLED=false), e.g. for benchmarks."""

    def __init__(self) -> None:
        pass

    def check_login(self, email: str, address: str) -> None:
        return None

    def login_failed(self, email: str, address: str) -> None:
        return None

    def login_succeeded(self, email: str, address: str) -> None:
        return None

    def spend_signup(self, address: str) -> None:
        return None

    def spend_refresh(self, address: str) -> None:
        return None

    def spend_forgot(self, email: str, address: str) -> None:
        return None

    def spend_verify(self, user_id: int) -> None:
        return None

    def may_send_verification(self, user_id: int) -> bool:
        return True

    def clear_login_failures(self, email: str, address: str) -> None:
        return None


def make_throttle(settings: Settings, engine: Engine) -> Throttle:
    """Counters in Redis when REDIS_URL is set, else in the service's database."""
    if not settings.rate_limit_enabled:
        return NoThrottle()
    storage: Storage
    if settings.redis_url:
        # Wrapped, so an unreachable Redis is one StorageError: a 503, like a database outage.
        storage = storage_from_string(settings.redis_url, wrap_exceptions=True)
    else:
        storage = DatabaseStorage(engine)
    return Throttle(
        storage,
        login_per_account_address=settings.login_limit_per_account_address,
        login_per_account=settings.login_limit_per_account,
        login_per_address=settings.login_limit_per_address,
        signup_per_address=settings.signup_limit_per_address,
        refresh_per_address=settings.refresh_limit_per_address,
        known_address_days=settings.known_address_days,
        forgot_per_address=settings.forgot_limit_per_address,
        forgot_per_account=settings.forgot_limit_per_account,
        verify_per_account=settings.verify_limit_per_account,
    )
