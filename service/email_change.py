"""Changing one's own email address, confirmed from the new mailbox.

Asking is a step of `Accounts.update`, in its transaction (`ask`): the address
waits in `users.pending_email` and a single-use link goes there. Confirming is
`EmailChanges.confirm`, behind `POST /email/confirm`: the link's token moves
the account to the address it was mailed to. Until then the old address keeps
working and the pending one reserves nothing: the unique index on
`users.email` decides at confirmation, as it does at sign-up.

Tokens are account_tokens.py's (Purpose.EMAIL_CHANGE); messages are
account_mail.py's. A superuser changing another user's address does not come
here: accounts.py sets it at once.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service import account_tokens
from service.account_tokens import Purpose, Redeemed
from service.audit_events import EventKind
from service.config import Settings
from service.models import USER_RECORD_COLUMNS, User, UserRecord
from service.parts import Service
from service.problems import DomainError, Problem
from service.requester import Requester
from service.threads import in_thread

_USERS = User.__table__


@dataclass(frozen=True)
class Asked:
    """A change asked for: the address, and the token of the link mailed there."""

    new_email: str
    token: str


def ask(db: Session, user: User, new_email: str, *, settings: Settings) -> Asked:
    """In the caller's transaction: `new_email` pending on `user`, and the link
    that confirms it (earlier links of the user's for a change die).

    An address another account has now is refused at once: the link could
    only answer 409, and its mailbox's owner would get a message about an
    account that is not theirs. Sign-up already tells that an address is
    taken, so this tells nothing new.
    """
    if db.scalar(select(_USERS.c.id).where(_USERS.c.email == new_email)) is not None:
        raise DomainError(Problem.EMAIL_TAKEN)
    user.pending_email = new_email
    db.flush()
    token = account_tokens.issue_email_change(db, user=user, new_email=new_email, settings=settings)
    return Asked(new_email=new_email, token=token)


def call_off(db: Session, *, user_id: int) -> None:
    """In the caller's transaction: the user's pending change's links die."""
    account_tokens.discard(db, user_id=user_id, purpose=Purpose.EMAIL_CHANGE)


class EmailChanges(Service):
    async def link_email(self, *, token: str) -> str | None:
        """The address an email change link can still move its account to; spends nothing."""
        pending = await in_thread(self._peek, token)
        return pending.new_email if pending else None

    def _peek(self, token: str) -> Redeemed | None:
        with self.database.sessions() as db:
            return account_tokens.peek(db, token=token, purpose=Purpose.EMAIL_CHANGE)

    async def confirm(self, *, token: str, requester: Requester) -> UserRecord:
        """Move the token's account to the address the token was mailed to;
        the old address is told. 409 if another account has the address now."""
        old_email, user = await in_thread(self._confirm, token)
        self.audit.record(EventKind.EMAIL_CHANGED, user_id=user.id, requester=requester)
        self.mail.email_changed(old=old_email, new=user.email, requester=requester, by_admin=False)
        return user

    def _confirm(self, token: str) -> tuple[str, UserRecord]:
        with self.database.sessions() as db:
            redeemed, row = _switch(db, token)
            # Links mailed to the old address (or for it) must not act on the new one.
            account_tokens.discard(db, user_id=redeemed.user_id)
            db.commit()
        return redeemed.email, UserRecord.of(row)


def _switch(db: Session, token: str) -> tuple[Redeemed, Row[Any]]:
    """Spend `token` and move its account to the token's address, if the token
    is still bound to it (same address and credentials, that address still
    pending); else roll back and refuse. A simultaneous confirmation may have
    spent it: the DELETE decides, one gets the row.

    The address taken since the request: roll back, so nothing changes and
    the token is left as it was (it may work once the address is free again).
    """
    redeemed = account_tokens.spend(db, token=token, purpose=Purpose.EMAIL_CHANGE)
    row = None
    if redeemed is not None and redeemed.new_email is not None:
        try:
            row = db.execute(
                update(_USERS)
                .where(
                    account_tokens.still_bound(redeemed),
                    _USERS.c.pending_email == redeemed.new_email,
                )
                # The link reached the new mailbox: its owner holds it.
                .values(email=redeemed.new_email, pending_email=None, is_verified=True)
                .returning(*USER_RECORD_COLUMNS)
            ).one_or_none()
        except IntegrityError:
            db.rollback()
            # No field of the request names the address: the token stands for it.
            raise DomainError(Problem.EMAIL_TAKEN, "token") from None
    if redeemed is None or row is None:
        db.rollback()
        raise DomainError(Problem.ACCOUNT_TOKEN_INVALID)
    return redeemed, row


def same_email_calls_off(fields: dict[str, Any], target: User) -> None:
    """Asking for the address the account has changes nothing, and calls off
    a pending change: the way to take back a request made by mistake. It
    needs no password, since it only undoes."""
    if fields.get("email") != target.email:
        return
    del fields["email"]
    if target.pending_email is not None:
        fields["pending_email"] = None
