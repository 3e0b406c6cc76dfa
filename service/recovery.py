"""Account recovery and email verification: the flows behind
`/password/forgot`, `/password/reset`, `/users/me/verify` and `/verify`.

Tokens are account_tokens.py's; messages are account_mail.py's. Each public
method is a coroutine that takes its own blocking work off the event loop.
"""

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service import account_tokens
from service.account_tokens import Purpose
from service.audit_events import EventKind
from service.models import USER_RECORD_COLUMNS, User, UserRecord
from service.parts import Parts, Service
from service.problems import DomainError, Problem
from service.requester import Requester
from service.threads import in_thread

logger = logging.getLogger("service.recovery")
_USERS = User.__table__


def invalid_token() -> DomainError:
    return DomainError(Problem.ACCOUNT_TOKEN_INVALID)


class Recovery(Service):
    def __init__(self, parts: Parts) -> None:
        super().__init__(parts)
        self.reset_ttl = timedelta(minutes=self.settings.reset_token_expire_minutes)

    # Asking for a message

    async def may_send_password_reset(self, *, email: str, requester: Requester) -> bool:
        """429 past the client's limit; whether one more reset mail may go to
        the account. Past the account's bound the answer is the same and no
        mail goes: the owner still holds the last link, and nobody can flood
        their mailbox."""
        return await in_thread(self.throttle.spend_forgot, email, requester)

    async def send_password_reset(self, *, email: str, requester: Requester) -> None:
        """Mail a reset link if `email` is an active account's; otherwise nothing.

        Run it after the answer has gone (a background task), so neither its
        time nor its failure can tell the client whether the account exists.
        """
        await in_thread(self._send_password_reset, email, requester)

    async def send_verification(self, *, user_id: int, requester: Requester) -> None:
        """Mail a verification link to the user's current address (throttled: 429)."""
        await in_thread(self._send_verification, user_id, requester)

    def _send_password_reset(self, email: str, requester: Requester) -> None:
        try:
            with self.database.sessions() as db:
                user = db.scalar(select(User).where(User.email == email))
                if user is None or not user.is_active:
                    return
                token = account_tokens.issue(
                    db, user=user, purpose=Purpose.PASSWORD_RESET, ttl=self.reset_ttl
                )
                db.commit()
                to = user.email
        except Exception as exc:  # nobody is waiting for this answer: log it, raise nothing
            logger.warning("password reset not sent: %s", type(exc).__name__)
            return
        self.mail.password_reset(to=to, token=token, requester=requester)

    def _send_verification(self, user_id: int, requester: Requester) -> None:
        self.throttle.spend_verify(user_id, requester)
        with self.database.sessions() as db:
            user = db.get(User, user_id)
            if user is None or not user.is_active:
                return
            try:
                token = account_tokens.issue_verification(db, user=user, settings=self.settings)
                db.commit()
            except IntegrityError:
                # Deleted since it was read: there is nobody to mail.
                db.rollback()
                return
            to = user.email
        self.mail.verification(to=to, token=token, requester=requester)

    # Looking at a link before it is used

    async def reset_link_email(self, *, token: str) -> str | None:
        """The address a reset link can still reset the password of; spends nothing."""
        pending = await in_thread(self._peek, token, Purpose.PASSWORD_RESET)
        return pending.email if pending else None

    async def verification_link_email(self, *, token: str) -> str | None:
        """The address a verification link can still confirm; spends nothing, so a
        mail scanner that follows the link does not use it up."""
        pending = await in_thread(self._peek, token, Purpose.VERIFY_EMAIL)
        return pending.email if pending else None

    # Redeeming a token

    async def reset_password(self, *, token: str, new_password: str, requester: Requester) -> None:
        """Set a new password with a reset token; every login ends."""
        pending = await in_thread(self._peek, token, Purpose.PASSWORD_RESET)
        if pending is None:
            raise invalid_token()
        # Judged before the (costly) hash, against the account's own address.
        self.require_strong(new_password, email=pending.email, field="new_password")
        new_hash = await self.hasher.hash(new_password)
        redeemed = await in_thread(self._apply_reset, token, new_hash, requester)
        self.audit.record(EventKind.PASSWORD_RESET, user_id=redeemed.user_id, requester=requester)
        self.mail.password_was_reset(to=redeemed.email, requester=requester)

    async def verify_email(self, *, token: str, requester: Requester) -> UserRecord:
        """Mark the token's address as verified, if it is still the account's."""
        user = await in_thread(self._verify_email, token)
        self.audit.record(EventKind.EMAIL_VERIFIED, user_id=user.id, requester=requester)
        return user

    def _verify_email(self, token: str) -> UserRecord:
        with self.database.sessions() as db:
            _, row = _redeem(db, token, Purpose.VERIFY_EMAIL, is_verified=True)
            db.commit()
        return UserRecord.of(row)

    def _peek(self, token: str, purpose: Purpose) -> account_tokens.Redeemed | None:
        with self.database.sessions() as db:
            return account_tokens.peek(db, token=token, purpose=purpose)

    def _apply_reset(
        self, token: str, new_hash: str, requester: Requester
    ) -> account_tokens.Redeemed:
        """One transaction: spend the token, set the password, end every login;
        then the owner, who proved control of the mailbox, may log in at once."""
        with self.database.sessions() as db:
            # The link reached this address: its owner holds it.
            redeemed, _ = _redeem(
                db, token, Purpose.PASSWORD_RESET, hashed_password=new_hash, is_verified=True
            )
            self.logins.end_credentials(db, user_id=redeemed.user_id)
            account_tokens.discard(db, user_id=redeemed.user_id, purpose=Purpose.PASSWORD_RESET)
            db.commit()
        self.throttle.clear_login_failures(redeemed.email, requester.ip)
        return redeemed


def _redeem(
    db: Session, token: str, purpose: Purpose, **values: object
) -> tuple[account_tokens.Redeemed, Row[Any]]:
    """Spend `token` and apply `values` to its account, if the token is still
    bound to it (same address, same credentials); else roll back and refuse.
    A simultaneous request may have spent it since any earlier look."""
    redeemed = account_tokens.spend(db, token=token, purpose=purpose)
    row = None
    if redeemed is not None:
        row = db.execute(
            update(_USERS)
            .where(account_tokens.still_bound(redeemed))
            .values(**values)
            .returning(*USER_RECORD_COLUMNS)
        ).one_or_none()
    if redeemed is None or row is None:
        db.rollback()
        raise invalid_token()
    return redeemed, row
