"""Logging in and out: the password grant, refresh, sign-out, and who a
bearer token stands for. Each method is a coroutine that takes its own
blocking work off the event loop: hashing on the hasher's threads, database
work and throttling counters on the threadpool.
"""

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from service import account_tokens, scopes
from service.audit_events import EventKind, EventPage
from service.devices import device_name
from service.emails import lookup_form
from service.logins import EndedLogin, IssuedTokens, Principal, RefreshReuseError
from service.models import User, utcnow
from service.parts import Service
from service.problems import DomainError, Problem
from service.requester import Requester
from service.threads import in_thread
from service.throttling import LoginAttempt

# An account younger than this may log in before its sign-up event is written.
_JUST_SIGNED_UP = timedelta(minutes=10)


class Authentication(Service):
    async def log_in(
        self,
        *,
        email: str,
        password: str,
        requester: Requester,
        scope: frozenset[str] | None = None,
    ) -> IssuedTokens:
        """A new login's tokens for the active user with these credentials,
        granted what of `scope` the user's role allows (all it allows when
        `scope` is None); INVALID_SCOPE when that is nothing.

        429 before any work when this account or client has failed too often;
        INVALID_CREDENTIALS in the same time whether or not the account exists.
        With REQUIRE_VERIFIED_EMAIL, right credentials of an unverified address
        give EMAIL_NOT_VERIFIED, and a new link is mailed (throttled).
        """
        # As sign-up stored it, so the very string someone signed up with logs them in.
        email = lookup_form(email)
        user, attempt = await self._find_unless_throttled(email, requester)
        matches, new_hash = await self.hasher.verify(
            password, user.hashed_password if user else None
        )
        if user is None or not matches or not user.is_active:
            await in_thread(self.throttle.login_failed, attempt)
            self._record_failure(user, requester)
            raise DomainError(Problem.INVALID_CREDENTIALS)
        if self.settings.require_verified_email and not user.is_verified:
            link = await in_thread(self._unverified, user, attempt, new_hash)
            if link is not None:
                self.mail.verification(to=user.email, token=link, requester=requester)
            self._record_failure(user, requester)
            raise DomainError(Problem.EMAIL_NOT_VERIFIED)
        tokens, new_device = await in_thread(
            self._succeeded, user, attempt, new_hash, requester, scope
        )
        if tokens is None:
            self._record_failure(user, requester)
            raise DomainError(Problem.INVALID_CREDENTIALS)
        self._record(EventKind.LOGIN_SUCCEEDED, tokens, requester)
        if new_device:
            self.mail.new_login(to=user.email, requester=requester)
        return tokens

    async def refresh(
        self, *, refresh_token: str, requester: Requester, narrow: frozenset[str] | None = None
    ) -> IssuedTokens:
        """The next tokens of a login; `narrow` keeps the access token to
        those of the login's scopes it names."""
        try:
            tokens = await in_thread(self._rotate, refresh_token, requester, narrow)
        except RefreshReuseError as error:
            self._record(EventKind.REFRESH_REUSE_DETECTED, error.ended, requester)
            await self._tell_of_reuse(error.ended, requester)
            raise
        self._record(EventKind.REFRESHED, tokens, requester)
        return tokens

    async def log_out(self, *, refresh_token: str, requester: Requester) -> None:
        ended = await in_thread(self.logins.revoke, refresh_token=refresh_token)
        # Only a login this ended: a token already signed out, or garbage, did nothing.
        if ended is not None:
            self._record(EventKind.LOGGED_OUT, ended, requester)

    async def revoke(self, *, token: str, hint: str | None, requester: Requester) -> None:
        """RFC 7009: a refresh or access token ends its login, so both stop at
        once. Unthrottled: it answers the same for every token a guesser could
        try, and ending a login needs a token that already could (by /logout).
        """
        ended = await in_thread(self._revoke, token, hint == "access_token")
        # Like log_out: only a login this ended is an event.
        if ended is not None:
            self._record(EventKind.LOGGED_OUT, ended, requester)

    def login_of(self, refresh_token: str, *, expired_too: bool = False) -> str:
        """The login id a refresh token names, checked by its signature only."""
        return self.logins.login_of(refresh_token, expired_too=expired_too)

    async def log_out_everywhere(self, *, principal: Principal, requester: Requester) -> None:
        await in_thread(self._end_credentials, principal.user.id)
        self.audit.record(
            EventKind.SIGNED_OUT_EVERYWHERE,
            user_id=principal.user.id,
            login_id=principal.login_id,
            requester=requester,
        )

    async def events(self, *, user_id: int, before: int | None, limit: int) -> EventPage:
        """The user's audit trail, newest first, with what it did last."""
        return await in_thread(self._events, user_id, before, limit)

    async def principal(self, access_token: str | None) -> Principal:
        """Who the bearer token stands for, in one query."""
        if not access_token:
            raise DomainError(Problem.NOT_AUTHENTICATED)
        return await in_thread(self.logins.authenticate, access_token=access_token)

    async def _find_unless_throttled(
        self, email: str, requester: Requester
    ) -> tuple[User | None, LoginAttempt]:
        try:
            return await in_thread(self._find, email, requester)
        except DomainError as error:
            if error.problem is Problem.RATE_LIMITED:
                # Refused before the account is looked up: the event names none.
                self.audit.record(EventKind.LOGIN_THROTTLED, requester=requester)
            raise

    async def _tell_of_reuse(self, ended: EndedLogin, requester: Requester) -> None:
        if not self.settings.notify_token_reuse:
            return
        owner = await in_thread(self.logins.owner_of, login_id=ended.login_id)
        if owner is not None:
            email, device = owner
            self.mail.token_reuse(to=email, device=device, requester=requester)

    def _record(
        self, kind: EventKind, login: IssuedTokens | EndedLogin, requester: Requester
    ) -> None:
        self.audit.record(kind, user_id=login.user_id, login_id=login.login_id, requester=requester)

    def _record_failure(self, user: User | None, requester: Requester) -> None:
        # An unknown email is nobody's: the event names no account, and not the email.
        self.audit.record(
            EventKind.LOGIN_FAILED, user_id=user.id if user else None, requester=requester
        )

    # On the threadpool

    def _find(self, email: str, requester: Requester) -> tuple[User | None, LoginAttempt]:
        # The guess is counted before the password is checked: guesses that
        # arrive together cannot all slip in while the hashes run.
        attempt = self.throttle.start_login(email, requester)
        with self.database.sessions() as db:
            # The connection goes back before the slow part, the hash check.
            return db.scalar(select(User).where(User.email == email)), attempt

    def _succeeded(
        self,
        user: User,
        attempt: LoginAttempt,
        new_hash: str | None,
        requester: Requester,
        scope: frozenset[str] | None,
    ) -> tuple[IssuedTokens | None, bool]:
        """The new login's tokens (None when a password change, reset,
        deactivation or deletion landed while the password was checked), and
        whether it came from a device and address new to the account."""
        self._passed(user, attempt, new_hash)
        granted = scopes.grant(user.role, scope)
        if not granted:
            # Told only once the password is right: before, it would say what role an account has.
            allowed = scopes.to_text(scopes.allowed(user.role))
            raise DomainError(Problem.SCOPE_NOT_ALLOWED, allowed=allowed)
        # Asked before this login is stored, or it would have seen itself.
        new_device = self.settings.notify_new_login and not self._seen(user, requester)
        tokens = self.logins.open(
            user_id=user.id,
            credential_version=user.credential_version,
            scope=granted,
            requester=requester,
        )
        return tokens, new_device

    def _seen(self, user: User, requester: Requester) -> bool:
        """Whether the account signed up or logged in from this device and
        address within NEW_LOGIN_MEMORY_DAYS: its logins are stored at once,
        the audit trail a moment later and for longer."""
        since = utcnow() - timedelta(days=self.settings.new_login_memory_days)
        seen = {"device": device_name(requester.user_agent), "ip": requester.ip, "since": since}
        if self.logins.opened_from(user_id=user.id, **seen):
            return True
        if self.audit.seen_recently(user.id, **seen):
            return True
        # Just signed up: its sign-up event may still be on its way to the table.
        if user.created_at > utcnow() - _JUST_SIGNED_UP and self.audit.flush():
            return self.audit.seen_recently(user.id, **seen)
        return False

    def _unverified(self, user: User, attempt: LoginAttempt, new_hash: str | None) -> str | None:
        """Right credentials of an address not yet verified: no login, and a
        new verification link unless one went out too recently."""
        self._passed(user, attempt, new_hash)
        if not self.throttle.may_send_verification(user.id):
            return None
        return self._verification_link(user)

    def _passed(self, user: User, attempt: LoginAttempt, new_hash: str | None) -> None:
        """The password was right: the failure slots go back, and an outdated hash is upgraded."""
        self.throttle.login_succeeded(attempt)
        if new_hash is not None:
            self._upgrade_hash(user, new_hash)

    def _upgrade_hash(self, user: User, new_hash: str) -> None:
        # The stored hash predates the current cost: upgrade it while we have
        # the password, unless the password changed while it was checked.
        with self.database.engine.begin() as connection:
            connection.execute(
                update(User)
                .where(User.id == user.id, User.hashed_password == user.hashed_password)
                .values(hashed_password=new_hash)
            )

    def _verification_link(self, user: User) -> str | None:
        try:
            with self.database.sessions() as db, db.begin():
                return account_tokens.issue_verification(db, user=user, settings=self.settings)
        except IntegrityError:
            # Deleted while its password was checked: no link for a gone account.
            return None

    def _rotate(
        self, refresh_token: str, requester: Requester, narrow: frozenset[str] | None
    ) -> IssuedTokens:
        self.throttle.spend_refresh(requester)
        return self.logins.rotate(refresh_token=refresh_token, narrow=narrow)

    def _revoke(self, token: str, access_first: bool) -> EndedLogin | None:
        # The hint only saves a decode: the two kinds cannot be taken for each other.
        if access_first:
            return self._revoke_access(token) or self.logins.revoke(refresh_token=token)
        return self.logins.revoke(refresh_token=token) or self._revoke_access(token)

    def _revoke_access(self, token: str) -> EndedLogin | None:
        """An access token counts only while it would be taken: a stale one,
        found in a log, must not be a switch that ends someone's login."""
        try:
            principal = self.logins.authenticate(access_token=token)
        except DomainError:
            return None
        user_id, login_id = principal.user.id, principal.login_id
        if self.logins.end(user_id=user_id, login_id=login_id) is None:
            return None
        return EndedLogin(user_id=user_id, login_id=login_id)

    def _end_credentials(self, user_id: int) -> None:
        with self.database.sessions() as db, db.begin():
            self.logins.end_credentials(db, user_id=user_id)

    def _events(self, user_id: int, before: int | None, limit: int) -> EventPage:
        # What is still queued first, so one's own last action shows.
        self.audit.flush()
        return self.audit.page(user_id, before=before, limit=limit)
