"""Logins: issuing, rotating and revoking tokens, and checking access tokens.

The seam between tokens and the database: the only module that reads or
writes `refresh_sessions`.
"""

import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service import login_sql as sql
from service import scopes
from service.database import Database
from service.devices import UNKNOWN_DEVICE, device_name
from service.login_values import (
    EndedLogin,
    IssuedTokens,
    LiveLogin,
    Principal,
    RefreshReuseError,
    token_rejected,
)
from service.models import (
    IP_MAX_LENGTH,
    USER_AGENT_MAX_LENGTH,
    Login,
    User,
    UserRecord,
    utcnow,
)
from service.requester import Requester
from service.security import AccessClaims, RefreshClaims, TokenCodec, TokenError

# Only this statement touches the rows; ORM state sync is not needed.
_NO_SYNC = {"synchronize_session": False}
_LOGINS = Login.__table__
_USERS = User.__table__


def _clip(text: str | None, length: int) -> str | None:
    return text[:length] if text else None


class LoginStore:
    """Logins in the database. The hot methods are one statement each, on
    `Database.autocommit`; the rest run in transactions on `Database.engine`."""

    def __init__(
        self,
        *,
        database: Database,
        tokens: TokenCodec,
        refresh_ttl: timedelta,
        max_lifetime: timedelta,
        reuse_grace: timedelta = timedelta(0),
    ) -> None:
        self.database = database
        self.tokens = tokens
        self.refresh_ttl = refresh_ttl
        self.max_lifetime = max_lifetime
        self.reuse_grace = reuse_grace

    def open(
        self,
        *,
        user_id: int,
        credential_version: int,
        scope: frozenset[str],
        requester: Requester,
    ) -> IssuedTokens | None:
        """Start a login for the user, granted `scope`, and give its first
        tokens, or None when the user's credentials are no longer
        `credential_version`'s. The login keeps where it came from, to show
        its owner."""
        now = utcnow()
        login_id = uuid.uuid4().hex
        expires_at = now + self.refresh_ttl
        parameters = {
            "sid": login_id,
            "uid": user_id,
            "version": credential_version,
            "now": now,
            "expiry": expires_at,
            "ip": _clip(requester.ip, IP_MAX_LENGTH),
            "user_agent": _clip(requester.user_agent, USER_AGENT_MAX_LENGTH),
            "device": device_name(requester.user_agent),
            "scope": scopes.to_text(scope),
        }
        try:
            with self.database.autocommit.begin() as connection:
                opened = connection.execute(sql.OPEN, parameters).rowcount
        except IntegrityError:
            # PostgreSQL: the user was deleted after the statement read it.
            return None
        if not opened:
            return None
        return self._issue(
            user_id=user_id,
            login_id=login_id,
            generation=0,
            version=credential_version,
            expires_at=expires_at,
            scope=parameters["scope"],
        )

    def rotate(self, *, refresh_token: str, narrow: frozenset[str] | None = None) -> IssuedTokens:
        """Spend `refresh_token` and give the next tokens. A spent one revokes
        its login, unless it is the one spent last, within the grace window.

        The access token gets the login's granted scopes, or those of them in
        `narrow`: never more. The login keeps its grant for the next refresh."""
        try:
            claims = self.tokens.decode_refresh(refresh_token)
        except TokenError as exc:
            raise token_rejected(exc) from exc
        now = utcnow()
        identity = {"sid": claims.login_id, "uid": claims.user_id, "gen": claims.generation}
        oldest_login = now - self.max_lifetime
        rotation = {
            **identity,
            "oldest_login": oldest_login,
            "new_expiry": now + self.refresh_ttl,
            "now": now,
        }
        # The one statement that spends the token decides alone: it needs no transaction.
        with self.database.autocommit.begin() as connection:
            advanced = connection.execute(sql.ROTATE, rotation).one_or_none()
        if advanced is None:
            advanced = self._within_grace_or_revoke(claims, now, oldest_login)
        if advanced is None:
            raise token_rejected()
        return self._issue(
            user_id=claims.user_id,
            login_id=claims.login_id,
            generation=advanced.generation,
            version=advanced.credential_version,
            expires_at=min(advanced.expires_at, advanced.created_at + self.max_lifetime),
            scope=advanced.scope
            if narrow is None
            else scopes.to_text(scopes.of_text(advanced.scope) & narrow),
        )

    def _within_grace_or_revoke(
        self, claims: RefreshClaims, now: datetime, oldest_login: datetime
    ) -> Row[Any] | None:
        """The login's current generation, if the token is the one spent last
        within the grace window; otherwise a spent token revokes its login
        (RefreshReuseError when this call did)."""
        identity = {"sid": claims.login_id, "uid": claims.user_id, "gen": claims.generation}
        with self.database.engine.begin() as connection:
            if self.reuse_grace:
                spent_after = now - self.reuse_grace
                advanced = connection.execute(
                    sql.WITHIN_GRACE,
                    {**identity, "oldest_login": oldest_login, "spent_after": spent_after},
                ).one_or_none()
                if advanced is not None:
                    return advanced
            revoked = connection.execute(sql.REVOKE_IF_REUSED, {**identity, "now": now}).rowcount
        if revoked:
            raise RefreshReuseError(EndedLogin(user_id=claims.user_id, login_id=claims.login_id))
        return None

    def login_of(self, refresh_token: str, *, expired_too: bool = False) -> str:
        """The login a refresh token is signed for, from the token alone (no
        query): whether the login is live is for rotate or revoke to say."""
        try:
            return self.tokens.decode_refresh(refresh_token, verify_exp=not expired_too).login_id
        except TokenError as exc:
            raise token_rejected(exc) from exc

    def revoke(self, *, refresh_token: str) -> EndedLogin | None:
        """End the login of `refresh_token`, if it is one of ours; expired ones
        too. The login this ended, if it was live."""
        try:
            claims = self.tokens.decode_refresh(refresh_token, verify_exp=False)
        except TokenError:
            return None
        with self.database.autocommit.begin() as connection:
            ended = connection.execute(
                sql.REVOKE,
                {"sid": claims.login_id, "uid": claims.user_id, "now": utcnow()},
            ).rowcount
        return EndedLogin(user_id=claims.user_id, login_id=claims.login_id) if ended else None

    @staticmethod
    def end_credentials(db: Session, *, user_id: int, keep: str | None = None) -> None:
        """Everything the user's present credentials opened stops working: the
        credential version moves on (so every access token fails) and every
        login but `keep` is revoked; `keep` moves to the new version. In the
        caller's transaction. The one way a password change, a reset, a
        deactivation or a sign-out everywhere ends credentials.

        A pending email change ends too: its link was bound to the old
        credentials, and whoever held them may be the one who asked."""
        db.execute(
            update(_USERS)
            .where(_USERS.c.id == user_id)
            .values(credential_version=_USERS.c.credential_version + 1, pending_email=None)
        )
        # Pending ORM changes first: they may be the reason for this.
        db.flush()
        revoke = update(_LOGINS).where(_LOGINS.c.user_id == user_id, _LOGINS.c.revoked_at.is_(None))
        if keep is not None:
            revoke = revoke.where(_LOGINS.c.id != keep)
            db.execute(sql.MOVE_TO_CURRENT_VERSION, {"sid": keep, "uid": user_id})
        db.execute(revoke.values(revoked_at=utcnow()))

    def live(self, *, user_id: int) -> list[LiveLogin]:
        """The user's logins that can still be refreshed, newest first."""
        now = utcnow()
        parameters = {"uid": user_id, "now": now, "oldest_login": now - self.max_lifetime}
        with self.database.autocommit.connect() as connection:
            rows = connection.execute(sql.LIVE, parameters).all()
        return [
            LiveLogin(
                id=row.id,
                created_at=row.created_at,
                last_used_at=row.rotated_at or row.created_at,
                expires_at=min(row.expires_at, row.created_at + self.max_lifetime),
                ip=row.ip,
                device=row.device,
            )
            for row in rows
        ]

    def end(self, *, user_id: int, login_id: str) -> str | None:
        """Revoke one of the user's logins and name its device; None when it
        is not one (or has already ended)."""
        with self.database.autocommit.begin() as connection:
            ended = connection.execute(
                sql.END_ONE, {"sid": login_id, "uid": user_id, "now": utcnow()}
            ).one_or_none()
        return None if ended is None else ended.device or UNKNOWN_DEVICE

    def end_all_but(self, *, user_id: int, keep: str | None) -> int:
        """Revoke every login of the user but `keep`; how many were ended."""
        with self.database.autocommit.begin() as connection:
            ended = connection.execute(
                sql.END_ALL_BUT, {"uid": user_id, "keep": keep or "", "now": utcnow()}
            ).all()
        return len(ended)

    def opened_from(self, *, user_id: int, device: str, ip: str | None, since: datetime) -> bool:
        """Whether the user opened a login from `device` and `ip` since `since`."""
        if not ip:
            return False
        parameters = {"uid": user_id, "device": device, "ip": ip[:IP_MAX_LENGTH], "since": since}
        with self.database.autocommit.connect() as connection:
            return connection.execute(sql.OPENED_FROM, parameters).first() is not None

    def owner_of(self, *, login_id: str) -> tuple[str, str] | None:
        """The email of a login's user and the login's device, if it still exists."""
        with self.database.autocommit.connect() as connection:
            row = connection.execute(sql.OWNER_OF, {"sid": login_id}).first()
        return None if row is None else (row.email, row.device or UNKNOWN_DEVICE)

    def authenticate(self, *, access_token: str) -> Principal:
        """The user behind a bearer token, in one query, or TOKEN_INVALID/EXPIRED."""
        try:
            claims = self.tokens.decode_access(access_token)
        except TokenError as exc:
            raise token_rejected(exc) from exc
        with self.database.autocommit.connect() as connection:
            row = connection.execute(
                sql.READ_PRINCIPAL,
                {"uid": claims.user_id, "sid": claims.login_id},
            ).one_or_none()
        if (
            row is None
            or row.revoked_at is not None
            or not row.is_active
            or row.credential_version != claims.credential_version
        ):
            raise token_rejected()
        return Principal(
            user=UserRecord.of(row),
            login_id=claims.login_id,
            credential_version=claims.credential_version,
            scopes=scopes.of_text(claims.scope),
        )

    def _issue(
        self,
        *,
        user_id: int,
        login_id: str,
        generation: int,
        version: int,
        expires_at: datetime,
        scope: str,
    ) -> IssuedTokens:
        access = self.tokens.access_token(
            AccessClaims(
                user_id=user_id, login_id=login_id, credential_version=version, scope=scope
            )
        )
        refresh = self.tokens.refresh_token(
            RefreshClaims(user_id=user_id, login_id=login_id, generation=generation),
            expires_at=expires_at,
        )
        return IssuedTokens(
            access_token=access,
            refresh_token=refresh,
            expires_in=int(self.tokens.access_ttl.total_seconds()),
            scope=scope,
            # As the token's own `exp` reads it.
            refresh_expires_in=max(0, int(expires_at.timestamp() - time.time())),
            user_id=user_id,
            login_id=login_id,
        )


def prune_logins(db: Session) -> int:
    """Delete sessions that can never be used again: revoked, or past their refresh token.

    A token of a deleted session is refused like one of a revoked session.
    """
    now = utcnow()
    deleted = db.execute(
        delete(Login)
        .where(or_(Login.revoked_at.is_not(None), Login.expires_at < now))
        .execution_options(**_NO_SYNC)
    ).rowcount
    db.commit()
    return deleted
