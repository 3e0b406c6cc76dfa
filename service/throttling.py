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

What a request was counted against goes into its Requester's `quotas`, for
the RateLimit headers: only the limits that count this client's own requests
(per client or network, and the signed-in user's own verification requests),
never one that counts an account's attempts from anywhere, so no answer tells
whether an account exists or what others did with it.
"""

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import RedisStorage, Storage, storage_from_string
from sqlalchemy import Engine

from service.config import Settings
from service.counters import Counters, Window
from service.problems import DomainError, Problem
from service.quotas import Quota, QuotaReport
from service.ratelimit_storage import DatabaseStorage
from service.requester import Requester
from service.throttle_keys import account_key, client_key, network_key

# The bound on every wait for Redis (connecting, then each command), so an
# outage gives a prompt 503, as the database's bounds do, instead of a hang.
REDIS_TIMEOUT_SECONDS = 2


def throttled(retry_after: int) -> DomainError:
    return DomainError(Problem.RATE_LIMITED, retry_after=retry_after)


@dataclass(frozen=True)
class Slot:
    """One counter a request takes a slot of; `policy` is the name the
    RateLimit headers show it by, None for a counter they never show."""

    item: RateLimitItem
    identifiers: tuple[str, ...]
    policy: str | None = None


@dataclass(frozen=True)
class LoginAttempt:
    """The slots one login took before its password was checked, and the
    report of the request that took them."""

    account: str
    client: str
    known_address: bool
    slots: tuple[Slot, ...]
    quotas: QuotaReport


class Throttle:
    def __init__(self, storage: Storage, settings: Settings) -> None:
        self.storage = storage
        self.counters = Counters(storage)
        self.limiter = self.counters.limiter
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

    # Logins

    def start_login(self, email: str, requester: Requester) -> LoginAttempt:
        """Take this login's slots, or 429 if any limit is spent; `email` is normalized."""
        account, client = account_key(email), client_key(requester.ip)
        known = self._known(account, client)
        slots = [
            Slot(self.login_per_account_address, ("login-account-address", account, client)),
            *self._per_client(self.login_per_address, "login-address", client, "login"),
        ]
        if not known:
            slots.append(Slot(self.login_per_account, ("login-account", account)))
        self._take(slots, requester.quotas)
        return LoginAttempt(account, client, known, tuple(slots), requester.quotas)

    def login_failed(self, attempt: LoginAttempt) -> None:
        if attempt.known_address:
            # Not refused for it, but counted towards the account's bound all the same.
            self.limiter.hit(self.login_per_account, "login-account", attempt.account)

    def login_succeeded(self, attempt: LoginAttempt) -> None:
        """Give back the slots meant for failures; (re)start the address's time as known."""
        own, *rest = attempt.slots
        self.limiter.clear(own.item, *own.identifiers)
        for slot in rest:
            self._report(attempt.quotas, slot, self._give_back(slot))
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

    def spend_signup(self, requester: Requester) -> None:
        client = client_key(requester.ip)
        self._take(
            self._per_client(self.signup_per_address, "signup-address", client, "signup"),
            requester.quotas,
        )

    def spend_refresh(self, requester: Requester) -> None:
        client = client_key(requester.ip)
        slot = Slot(self.refresh_per_address, ("refresh-address", client), "refresh")
        self._take([slot], requester.quotas)

    def spend_forgot(self, email: str, requester: Requester) -> bool:
        """429 past the client's limit; whether the account may be mailed once
        more. Counted whether or not the account exists, so nothing tells of it;
        and the account's count is not reported, so no header does either."""
        client = client_key(requester.ip)
        self._take(
            self._per_client(self.forgot_per_address, "forgot-address", client, "forgot"),
            requester.quotas,
        )
        return self.limiter.hit(self.forgot_per_account, "forgot-account", account_key(email))

    def spend_verify(self, user_id: int, requester: Requester) -> None:
        # Keyed by the signed-in user: it counts only what this account asked
        # for (and its logins' unasked links), so it is the caller's to see.
        slot = Slot(self.verify_per_account, ("verify-account", str(user_id)), "verify")
        self._take([slot], requester.quotas)

    def may_send_verification(self, user_id: int) -> bool:
        """Like `spend_verify`, for messages the service sends unasked: no 429, just no mail."""
        return self.limiter.hit(self.verify_per_account, "verify-account", str(user_id))

    def spend_email_change(self, user_id: int, requester: Requester) -> None:
        # A link that proves a mailbox, like verification's and under its limit,
        # but counted apart: it goes to an address of the user's choosing, not
        # to its own, and neither kind should use up the other's.
        slot = Slot(self.verify_per_account, ("email-change-account", str(user_id)), "email-change")
        self._take([slot], requester.quotas)

    @property
    def store_name(self) -> str:
        """Where the counters are, as the health answer names it."""
        return "redis" if isinstance(self.storage, RedisStorage) else "database"

    def store_is_up(self) -> bool:
        return bool(self.storage.check())

    # Counting

    def _per_client(self, item: RateLimitItem, name: str, client: str, policy: str) -> list[Slot]:
        slots = [Slot(item, (name, client), policy)]
        network = network_key(client)
        if network is not None and self.ipv6_network_factor > 1:
            wider = type(item)(item.amount * self.ipv6_network_factor, item.multiples)
            slots.append(Slot(wider, (name + "-network", network), policy + "-network"))
        return slots

    def _take(self, slots: list[Slot], quotas: QuotaReport) -> None:
        for index, slot in enumerate(slots):
            window = self.counters.hit(slot.item, slot.identifiers)
            self._report(quotas, slot, window)
            if window.count > slot.item.amount:
                # The client's own counters not reached are shown as they stand,
                # so a 429 of any limit carries the same headers as every answer.
                for unreached in slots[index + 1 :]:
                    if unreached.policy is not None:
                        self._report(quotas, unreached, self._peek(unreached))
                raise throttled(max(1, math.ceil(window.reset_at - time.time())))

    def _give_back(self, slot: Slot) -> Window:
        return self.counters.give_back(slot.item, slot.identifiers)

    def _peek(self, slot: Slot) -> Window:
        return self.counters.peek(slot.item, slot.identifiers)

    @staticmethod
    def _report(quotas: QuotaReport, slot: Slot, window: Window) -> None:
        if slot.policy is None:
            return
        quotas.record(
            Quota(
                policy=slot.policy,
                limit=slot.item.amount,
                window_seconds=slot.item.get_expiry(),
                remaining=max(0, slot.item.amount - window.count),
                reset_seconds=max(0, math.ceil(window.reset_at - time.time())),
            )
        )

    def _known(self, account: str, client: str) -> bool:
        return self.storage.get(self._known_key(account, client)) > 0

    @staticmethod
    def _known_key(account: str, client: str) -> str:
        return f"known-address/{account}/{client}"


class NoThrottle(Throttle):
    """Throttling switched off (RATE_LIMIT_ENABLED=false), e.g. for benchmarks."""

    def __init__(self) -> None:
        pass

    def start_login(self, email: str, requester: Requester) -> LoginAttempt:
        return LoginAttempt("", "", True, (), requester.quotas)

    def login_failed(self, attempt: LoginAttempt) -> None:
        return None

    def login_succeeded(self, attempt: LoginAttempt) -> None:
        return None

    def clear_login_failures(self, email: str, ip: str | None) -> None:
        return None

    def spend_signup(self, requester: Requester) -> None:
        return None

    def spend_refresh(self, requester: Requester) -> None:
        return None

    def spend_forgot(self, email: str, requester: Requester) -> bool:
        return True

    def spend_verify(self, user_id: int, requester: Requester) -> None:
        return None

    def may_send_verification(self, user_id: int) -> bool:
        return True

    def spend_email_change(self, user_id: int, requester: Requester) -> None:
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
