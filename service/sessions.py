"""Login sessions: issuing, rotating and revoking tokens, and checking access tokens.

The seam between tokens and the database: the only module that reads or
writes `refresh_sessions`.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from service.errors import ApiError, ErrorCode, OAuthError
from service.models import RefreshSession, User, utcnow
from service.schemas import TokenPair
from service.security import (
    AccessClaims,
    RefreshClaims,
    TokenCodec,
    TokenError,
    TokenExpiredError,
)

# Only this statement touches the row on a rotation; ORM state sync is not needed.
_NO_SYNC = {"synchronize_session": False}
_SESSIONS = RefreshSession.__table__
_USERS = User.__table__


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: the user and the login session its token belongs to."""

    user: User
    session_id: str


def token_rejected(exc: TokenError | None = None, *, oauth: bool = False) -> ApiError:
    expired = isinstance(exc, TokenExpiredError)
    code = ErrorCode.TOKEN_EXPIRED if expired else ErrorCode.INVALID_TOKEN
    message = "The token has expired" if expired else "The token is invalid or has been revoked"
    return ApiError(
        401,
        code,
        message,
        oauth_error=OAuthError.INVALID_GRANT if oauth else None,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


class SessionStore:
    def __init__(
        self, *, tokens: TokenCodec, refresh_ttl: timedelta, max_lifetime: timedelta
    ) -> None:
        self.tokens = tokens
        self.refresh_ttl = refresh_ttl
        self.max_lifetime = max_lifetime

    def open(self, db: Session, *, user: User) -> TokenPair:
        """Start a login session for `user` and give its first token pair."""
        now = utcnow()
        session = RefreshSession(
            id=uuid.uuid4().hex,
            user_id=user.id,
            generation=0,
            created_at=now,
            expires_at=now + self.refresh_ttl,
        )
        db.add(session)
        db.commit()
        return self._pair(
            user_id=user.id,
            session_id=session.id,
            generation=0,
            version=user.credential_version,
            expires_at=session.expires_at,
        )

    def rotate(self, db: Session, *, refresh_token: str) -> TokenPair:
        """Spend `refresh_token` and give the next pair; a spent one revokes its session."""
        try:
            claims = self.tokens.decode_refresh(refresh_token)
        except TokenError as exc:
            raise token_rejected(exc, oauth=True) from exc
        now = utcnow()
        expires_at = now + self.refresh_ttl
        # One statement spends the token, checks the session is live and reads
        # the user's credential version, so concurrent uses cannot both win.
        # Core, not ORM: the hottest write path skips the ORM's bookkeeping.
        sessions, users = _SESSIONS, _USERS
        credential_version = (
            select(users.c.credential_version)
            .where(users.c.id == sessions.c.user_id, users.c.is_active.is_(True))
            .scalar_subquery()
        )
        advanced = db.execute(
            update(sessions)
            .where(
                sessions.c.id == claims.session_id,
                sessions.c.user_id == claims.user_id,
                sessions.c.generation == claims.generation,
                sessions.c.revoked_at.is_(None),
                sessions.c.created_at > now - self.max_lifetime,
            )
            .values(generation=sessions.c.generation + 1, expires_at=expires_at)
            .returning(sessions.c.generation, sessions.c.created_at, credential_version)
        ).one_or_none()
        if advanced is None or advanced[2] is None:
            self._revoke_if_reused(db, claims, now)
            db.commit()
            raise token_rejected(oauth=True)
        db.commit()
        generation, created_at, version = advanced
        return self._pair(
            user_id=claims.user_id,
            session_id=claims.session_id,
            generation=generation,
            version=version,
            expires_at=min(expires_at, created_at + self.max_lifetime),
        )

    def _revoke_if_reused(self, db: Session, claims: RefreshClaims, now: datetime) -> None:
        # A generation older than the session's is a token already spent:
        # whoever holds it, the session can no longer be trusted.
        db.execute(
            update(RefreshSession)
            .where(
                RefreshSession.id == claims.session_id,
                RefreshSession.user_id == claims.user_id,
                RefreshSession.generation > claims.generation,
                RefreshSession.revoked_at.is_(None),
            )
            .values(revoked_at=now)
            .execution_options(**_NO_SYNC)
        )

    def revoke(self, db: Session, *, refresh_token: str) -> None:
        """End the session of `refresh_token`, if it is one of ours; expired ones too."""
        try:
            claims = self.tokens.decode_refresh(refresh_token, verify_exp=False)
        except TokenError:
            return
        db.execute(
            update(RefreshSession)
            .where(
                RefreshSession.id == claims.session_id,
                RefreshSession.user_id == claims.user_id,
                RefreshSession.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
            .execution_options(**_NO_SYNC)
        )
        db.commit()

    @staticmethod
    def revoke_all(db: Session, *, user_id: int, keep: str | None = None) -> None:
        """End every session of the user but `keep`; the caller commits."""
        statement = update(RefreshSession).where(
            RefreshSession.user_id == user_id, RefreshSession.revoked_at.is_(None)
        )
        if keep is not None:
            statement = statement.where(RefreshSession.id != keep)
        db.execute(statement.values(revoked_at=utcnow()).execution_options(**_NO_SYNC))

    def authenticate(self, db: Session, *, access_token: str) -> Principal:
        """The user behind a bearer token, in one query, or a 401."""
        try:
            claims = self.tokens.decode_access(access_token)
        except TokenError as exc:
            raise token_rejected(exc) from exc
        # A single read needs no transaction: autocommit saves the BEGIN and
        # COMMIT round trips on every authenticated request.
        db.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        row = db.execute(
            select(User, RefreshSession.revoked_at)
            .join(RefreshSession, RefreshSession.user_id == User.id)
            .where(User.id == claims.user_id, RefreshSession.id == claims.session_id)
        ).one_or_none()
        # Give the connection back now: the route may wait for a thread before
        # it needs the database again, and must not hold a pooled connection meanwhile.
        db.commit()
        if row is None or not _still_valid(row[0], row[1], claims):
            raise token_rejected()
        return Principal(user=row[0], session_id=claims.session_id)

    def _pair(
        self,
        *,
        user_id: int,
        session_id: str,
        generation: int,
        version: int,
        expires_at: datetime,
    ) -> TokenPair:
        access = self.tokens.access_token(
            AccessClaims(user_id=user_id, session_id=session_id, credential_version=version)
        )
        refresh = self.tokens.refresh_token(
            RefreshClaims(user_id=user_id, session_id=session_id, generation=generation),
            expires_at=expires_at,
        )
        return TokenPair(
            access_token=access,
            refresh_token=refresh,
            expires_in=int(self.tokens.access_ttl.total_seconds()),
        )


def _still_valid(user: User, revoked_at: datetime | None, claims: AccessClaims) -> bool:
    return (
        revoked_at is None
        and user.is_active
        and user.credential_version == claims.credential_version
    )


def prune_sessions(db: Session) -> int:
    """Delete sessions that can never be used again: revoked, or past their refresh token.

    A token of a deleted session is refused like one of a revoked session.
    """
    now = utcnow()
    deleted = db.execute(
        delete(RefreshSession)
        .where(or_(RefreshSession.revoked_at.is_not(None), RefreshSession.expires_at < now))
        .execution_options(**_NO_SYNC)
    ).rowcount
    db.commit()
    return deleted
