"""Single-use tokens sent by mail: password resets, email verifications and
email changes.

The only module that reads or writes `account_tokens`. A token is 32 random
bytes; the table keeps its SHA-256 digest, never the token, so a copy of the
database redeems nothing. Each row is bound to its user and purpose, and to
the email address and credential version the user had when it was issued:
a password change, a deactivation or an address change ends it. An email
change token also names the address it confirms (`new_email`): it was mailed
there.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select
from sqlalchemy.orm import Session

from service.config import Settings
from service.models import AccountToken, User, utcnow

_TOKENS = AccountToken.__table__
_USERS = User.__table__
# Longer than any token this module makes; anything longer is not one of ours.
TOKEN_MAX_LENGTH = 128


class Purpose(StrEnum):
    PASSWORD_RESET = "password_reset"
    VERIFY_EMAIL = "verify_email"
    EMAIL_CHANGE = "email_change"


@dataclass(frozen=True)
class Redeemed:
    user_id: int
    email: str
    credential_version: int
    # The address an email change token confirms; None for the other purposes.
    new_email: str | None = None


_REDEEMED_COLUMNS = (
    _TOKENS.c.user_id,
    _TOKENS.c.email,
    _TOKENS.c.credential_version,
    _TOKENS.c.new_email,
)


def _redeemed(row: Any) -> Redeemed | None:
    if row is None:
        return None
    return Redeemed(
        user_id=row.user_id,
        email=row.email,
        credential_version=row.credential_version,
        new_email=row.new_email,
    )


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(
    db: Session, *, user: User, purpose: Purpose, ttl: timedelta, new_email: str | None = None
) -> str:
    """A new token for `user`, in the caller's transaction; the caller commits."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.execute(
        insert(_TOKENS).values(
            digest=digest(token),
            user_id=user.id,
            purpose=purpose.value,
            email=user.email,
            credential_version=user.credential_version,
            created_at=now,
            expires_at=now + ttl,
            new_email=new_email,
        )
    )
    return token


def issue_verification(db: Session, *, user: User, settings: Settings) -> str:
    """The one way a verification link is made: for the user's current address."""
    ttl = timedelta(minutes=settings.verify_token_expire_minutes)
    return issue(db, user=user, purpose=Purpose.VERIFY_EMAIL, ttl=ttl)


def issue_email_change(db: Session, *, user: User, new_email: str, settings: Settings) -> str:
    """The one way an email change link is made: for `new_email`, bound to the
    user's current address and credentials. Earlier change links of the user
    are discarded, so an older link cannot confirm a later request's address.
    It proves a mailbox as a verification link does, and lives as long."""
    discard(db, user_id=user.id, purpose=Purpose.EMAIL_CHANGE)
    ttl = timedelta(minutes=settings.verify_token_expire_minutes)
    return issue(db, user=user, purpose=Purpose.EMAIL_CHANGE, ttl=ttl, new_email=new_email)


def _bound_to_its_user() -> object:
    """The token's user exists, is active, and has not changed since the token was issued."""
    return and_(
        _USERS.c.id == _TOKENS.c.user_id,
        _USERS.c.email == _TOKENS.c.email,
        _USERS.c.credential_version == _TOKENS.c.credential_version,
        _USERS.c.is_active.is_(True),
    )


def _usable(token: str, purpose: Purpose) -> list[object]:
    return [
        _TOKENS.c.digest == digest(token),
        _TOKENS.c.purpose == purpose.value,
        _TOKENS.c.expires_at > utcnow(),
    ]


def peek(db: Session, *, token: str, purpose: Purpose) -> Redeemed | None:
    """What `token` would redeem now, without spending it."""
    if len(token) > TOKEN_MAX_LENGTH:
        return None
    row = db.execute(
        select(*_REDEEMED_COLUMNS)
        .join(_USERS, _bound_to_its_user())
        .where(*_usable(token, purpose))
    ).one_or_none()
    return _redeemed(row)


def spend(db: Session, *, token: str, purpose: Purpose) -> Redeemed | None:
    """Spend `token` in the caller's transaction, or None if it cannot be spent.

    One DELETE decides between simultaneous uses: one gets the row, the
    other nothing. The caller checks the binding (`still_bound`) in the same
    transaction, and rolls back when it fails.
    """
    if len(token) > TOKEN_MAX_LENGTH:
        return None
    row = db.execute(
        delete(_TOKENS).where(*_usable(token, purpose)).returning(*_REDEEMED_COLUMNS)
    ).one_or_none()
    return _redeemed(row)


def still_bound(redeemed: Redeemed) -> object:
    """A WHERE clause on `users`: the row the token was issued for, unchanged."""
    return and_(
        _USERS.c.id == redeemed.user_id,
        _USERS.c.email == redeemed.email,
        _USERS.c.credential_version == redeemed.credential_version,
        _USERS.c.is_active.is_(True),
    )


def discard(db: Session, *, user_id: int, purpose: Purpose | None = None) -> None:
    """End every outstanding token of the user (for `purpose`, if given); the caller commits.

    An address change must: the binding alone would let a link sent before
    it work again once the address is changed back.
    """
    statement = delete(_TOKENS).where(_TOKENS.c.user_id == user_id)
    if purpose is not None:
        statement = statement.where(_TOKENS.c.purpose == purpose.value)
    db.execute(statement)


def prune(db: Session) -> int:
    """Delete tokens that can never be redeemed: expired, or of a user who changed since."""
    unbound = select(_USERS.c.id).where(_bound_to_its_user()).correlate(_TOKENS).exists()
    deleted = db.execute(
        delete(_TOKENS).where(or_(_TOKENS.c.expires_at <= utcnow(), ~unbound))
    ).rowcount
    db.commit()
    return deleted
