"""Database tables. API shapes live in schemas.py, never here."""

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
    case,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql import ColumnElement

from service.scopes import Role

# Stable constraint names, so Alembic migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

EMAIL_MAX_LENGTH = 254
FULL_NAME_MAX_LENGTH = 200
# What is kept of a client's address and User-Agent: enough to recognize and
# show them, bounded so a hostile header cannot bloat a row.
IP_MAX_LENGTH = 64
USER_AGENT_MAX_LENGTH = 512
DEVICE_MAX_LENGTH = 100
ROLE_MAX_LENGTH = 16
SCOPE_MAX_LENGTH = 1024
# The largest id the `id` column can hold; larger ids cannot exist.
MAX_ID = 2**31 - 1


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _role_for(is_superuser: bool) -> str:
    return (Role.ADMIN if is_superuser else Role.USER).value


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Stored trimmed and lower-cased, so this unique index is case-insensitive uniqueness.
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH), unique=True)
    hashed_password: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str | None] = mapped_column(String(FULL_NAME_MAX_LENGTH))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # What the user may do: a role of service/scopes.py, which grants scopes.
    role: Mapped[str] = mapped_column(
        String(ROLE_MAX_LENGTH), default=Role.USER.value, server_default=Role.USER.value
    )
    # Whether the owner has shown the address is theirs; false again when it changes.
    is_verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Bumped when the password changes or the account is deactivated; access
    # tokens and sessions carry the version they were issued under and fail
    # once it moves.
    credential_version: Mapped[int] = mapped_column(Integer, default=0)
    # An address asked for and not yet confirmed from its mailbox; not unique:
    # it reserves nothing until confirmed.
    pending_email: Mapped[str | None] = mapped_column(String(EMAIL_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    # The contract's flag, kept as a view of the role: admin or not. Usable
    # in queries, inserts and updates (`values(is_superuser=True)`) as the
    # column it replaced was.
    @hybrid_property
    def is_superuser(self) -> bool:
        return self.role == Role.ADMIN

    @is_superuser.inplace.setter
    def _is_superuser_setter(self, value: bool) -> None:
        self.role = _role_for(value)

    @is_superuser.inplace.expression
    @classmethod
    def _is_superuser_expression(cls) -> ColumnElement[bool]:
        return cls.role == Role.ADMIN.value

    @is_superuser.inplace.update_expression
    @classmethod
    def _is_superuser_update(cls, value: Any) -> list[tuple[Any, Any]]:
        return [(cls.role, case((value, Role.ADMIN.value), else_=Role.USER.value))]


class Login(Base):
    """One login: the refresh tokens issued since it, as a rotation counter.

    A refresh token names its session and generation. Rotating it advances the
    generation; an older generation presented again is a stolen token, and the
    whole session is revoked, except for the generation just spent, within a
    short grace window (two tabs, or a retry after a lost response).
    """

    __tablename__ = "refresh_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    # The user's credential version the session was opened under (or moved to
    # by the password change it survived): once the user's moves on, the
    # session cannot be refreshed, whatever was in flight when it was opened.
    credential_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The current refresh token's expiry; rows past it can be pruned.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the last rotation happened: the token it spent may be presented
    # again within REFRESH_REUSE_GRACE_SECONDS without counting as reuse.
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Where the login came from, to show its owner: the client address as
    # resolved through the trusted proxies, and the device its User-Agent names.
    ip: Mapped[str | None] = mapped_column(String(IP_MAX_LENGTH))
    user_agent: Mapped[str | None] = mapped_column(String(USER_AGENT_MAX_LENGTH))
    device: Mapped[str | None] = mapped_column(String(DEVICE_MAX_LENGTH))
    # The scopes granted at login (space-separated): every refresh gives these
    # or fewer, never more, whatever the user's role becomes.
    scope: Mapped[str] = mapped_column(String(SCOPE_MAX_LENGTH), default="", server_default="")


class AccountToken(Base):
    """A single-use token sent by mail: a password reset, an email verification
    or an email change.

    Only the token's SHA-256 digest is stored, so a copy of the database gives
    nobody a working token. A token is bound to its user and purpose, and to
    the address and credential version it was issued under: it stops working
    when either changes.
    """

    __tablename__ = "account_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH))
    credential_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # For an email change: the address the link confirms (it was mailed there).
    new_email: Mapped[str | None] = mapped_column(String(EMAIL_MAX_LENGTH))


class AuthEvent(Base):
    """One authentication event, appended and never changed; pruned after
    AUDIT_RETENTION_DAYS. No foreign key: the trail outlives a deleted user.
    Never a password, token or hash; an event about an unknown email names
    no account."""

    __tablename__ = "auth_events"
    __table_args__ = (Index("ix_auth_events_user_id_id", "user_id", "id"),)

    # Keyset pagination reads newest first by id.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    kind: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[int | None] = mapped_column(Integer)
    login_id: Mapped[str | None] = mapped_column(String(32))
    # The superuser who acted on the user, when it was not the user itself.
    actor_id: Mapped[int | None] = mapped_column(Integer)
    ip: Mapped[str | None] = mapped_column(String(IP_MAX_LENGTH))
    user_agent: Mapped[str | None] = mapped_column(String(USER_AGENT_MAX_LENGTH))
    device: Mapped[str | None] = mapped_column(String(DEVICE_MAX_LENGTH))


class RateLimitCounter(Base):
    """A throttling counter shared by every worker: `limits`' fixed windows."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    # Seconds since the epoch, as `limits` counts them.
    expires_at: Mapped[float] = mapped_column(Double)


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user as the API shows it, read with Core on the hot paths rather than
    as an ORM object. Its own row type: a new API field never changes the SQL
    (a test keeps the two in step)."""

    id: int
    email: str
    full_name: str | None
    is_active: bool
    role: str
    is_verified: bool
    pending_email: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def is_superuser(self) -> bool:
        return self.role == Role.ADMIN

    @classmethod
    def of(cls, row: Any) -> "UserRecord":
        """The record from a result row holding USER_RECORD_COLUMNS, by label."""
        return cls(**{name: getattr(row, name) for name in _USER_RECORD_FIELDS})


_USER_RECORD_FIELDS = tuple(field.name for field in fields(UserRecord))
USER_RECORD_COLUMNS = tuple(User.__table__.c[name] for name in _USER_RECORD_FIELDS)
