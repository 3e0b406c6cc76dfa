"""Login sessions: issuing, rotating and revoking tokens, and checking access tokens.

The seam between tokens and the database: the only module that reads or
writes `refresh_sessions`.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, bindparam, delete, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.models import Login, User, utcnow
from service.problems import DomainError, Problem
from service.schemas import TokenPair, UserPublic
from service.security import (
    AccessClaims,
    RefreshClaims,
    TokenCodec,
    TokenError,
    TokenExpiredError,
)

# Only this statement touches the rows; ORM state sync is not needed.
_NO_SYNC = {"synchronize_session": False}
_LOGINS = Login.__table__
_USERS = User.__table__

# The hot paths' statements are built once: building a Core statement (and
# its cache key) costs more than running it. Parameter names must differ
# from column names in UPDATEs.
# Named here, not taken from the API schema: a new API field must never
# change (or break) the SQL; a test keeps the two in step.
PRINCIPAL_USER_COLUMNS = (
    _USERS.c.id,
    _USERS.c.email,
    _USERS.c.full_name,
    _USERS.c.is_active,
    _USERS.c.is_superuser,
    _USERS.c.is_verified,
    _USERS.c.created_at,
    _USERS.c.updated_at,
)
_READ_PRINCIPAL = (
    select(
        *PRINCIPAL_USER_COLUMNS,
        _USERS.c.credential_version,
        _LOGINS.c.revoked_at,
    )
    .join_from(_USERS, _LOGINS, _LOGINS.c.user_id == _USERS.c.id)
    .where(_USERS.c.id == bindparam("uid"), _LOGINS.c.id == bindparam("sid"))
)
# What a refresh needs of the session to issue the pair.
_ADVANCED = (
    _LOGINS.c.generation,
    _LOGINS.c.created_at,
    _LOGINS.c.expires_at,
    _LOGINS.c.credential_version,
)
# One statement spends the token and checks the session is live and still
# under the user's credentials, so concurrent uses cannot both win.
_ROTATE = (
    update(_LOGINS)
    .where(
        _LOGINS.c.id == bindparam("sid"),
        _LOGINS.c.user_id == bindparam("uid"),
        _LOGINS.c.generation == bindparam("gen"),
        _LOGINS.c.revoked_at.is_(None),
        _LOGINS.c.created_at > bindparam("oldest_login"),
        # A session opened or kept under an older password, or of a user
        # deactivated since, is over however its token reached us.
        _LOGINS.c.credential_version
        == select(_USERS.c.credential_version)
        .where(_USERS.c.id == _LOGINS.c.user_id, _USERS.c.is_active.is_(True))
        .scalar_subquery(),
    )
    .values(
        generation=_LOGINS.c.generation + 1,
        expires_at=bindparam("new_expiry"),
        rotated_at=bindparam("now"),
    )
    .returning(*_ADVANCED)
)
# The token the last rotation spent, presented again soon after it (a second
# tab refreshing at the same moment, or a retry after a lost answer): the
# session is still trusted and its current generation is given again.
_WITHIN_GRACE = select(*_ADVANCED).where(
    _LOGINS.c.id == bindparam("sid"),
    _LOGINS.c.user_id == bindparam("uid"),
    _LOGINS.c.generation == bindparam("gen") + 1,
    _LOGINS.c.revoked_at.is_(None),
    _LOGINS.c.rotated_at > bindparam("spent_after"),
    _LOGINS.c.created_at > bindparam("oldest_login"),
    _LOGINS.c.credential_version
    == select(_USERS.c.credential_version)
    .where(_USERS.c.id == _LOGINS.c.user_id, _USERS.c.is_active.is_(True))
    .scalar_subquery(),
)
# A generation older than the session's is a token already spent: whoever
# holds it, the session can no longer be trusted.
_REVOKE_IF_REUSED = (
    update(_LOGINS)
    .where(
        _LOGINS.c.id == bindparam("sid"),
        _LOGINS.c.user_id == bindparam("uid"),
        _LOGINS.c.generation > bindparam("gen"),
        _LOGINS.c.revoked_at.is_(None),
    )
    .values(revoked_at=bindparam("now"))
)
# The session a token names, if it is the user's and not revoked.
_THIS_LIVE_SESSION = (
    _LOGINS.c.id == bindparam("sid"),
    _LOGINS.c.user_id == bindparam("uid"),
    _LOGINS.c.revoked_at.is_(None),
)
_REVOKE = update(_LOGINS).where(*_THIS_LIVE_SESSION).values(revoked_at=bindparam("now"))
# A login opens its session only if the credentials it checked are still the
# user's: a password change, reset, deactivation or deletion that commits
# while the hash is being checked leaves nothing to insert.
_OPEN = insert(_LOGINS).from_select(
    ["id", "user_id", "generation", "credential_version", "created_at", "expires_at"],
    select(
        bindparam("sid", type_=_LOGINS.c.id.type),
        _USERS.c.id,
        literal(0),
        _USERS.c.credential_version,
        bindparam("now", type_=_LOGINS.c.created_at.type),
        bindparam("expiry", type_=_LOGINS.c.expires_at.type),
    ).where(
        _USERS.c.id == bindparam("uid"),
        _USERS.c.credential_version == bindparam("version"),
        _USERS.c.is_active.is_(True),
    ),
)
# The session a password change is made from stays signed in, under the new version.
_MOVE_TO_CURRENT_VERSION = (
    update(_LOGINS)
    .where(*_THIS_LIVE_SESSION)
    .values(
        credential_version=select(_USERS.c.credential_version)
        .where(_USERS.c.id == bindparam("uid"))
        .scalar_subquery()
    )
)


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: the user as it was when the request began, and
    the login session its token belongs to. Changes reload the user in their
    own transaction."""

    user: UserPublic
    login_id: str


def token_rejected(exc: TokenError | None = None) -> DomainError:
    expired = isinstance(exc, TokenExpiredError)
    return DomainError(Problem.TOKEN_EXPIRED if expired else Problem.TOKEN_INVALID)


class LoginStore:
    """Login sessions in the database. Each public method but `end_credentials` is
    one statement on the autocommit engine (see Database)."""

    def __init__(
        self,
        *,
        engine: Engine,
        tokens: TokenCodec,
        refresh_ttl: timedelta,
        max_lifetime: timedelta,
        reuse_grace: timedelta = timedelta(0),
    ) -> None:
        self.engine = engine
        self.tokens = tokens
        self.refresh_ttl = refresh_ttl
        self.max_lifetime = max_lifetime
        self.reuse_grace = reuse_grace

    def open(self, *, user_id: int, credential_version: int) -> TokenPair | None:
        """Start a login session for the user and give its first token pair, or
        None when the user's credentials are no longer `credential_version`'s."""
        now = utcnow()
        login_id = uuid.uuid4().hex
        expires_at = now + self.refresh_ttl
        try:
            with self.engine.begin() as connection:
                opened = connection.execute(
                    _OPEN,
                    {
                        "sid": login_id,
                        "uid": user_id,
                        "version": credential_version,
                        "now": now,
                        "expiry": expires_at,
                    },
                ).rowcount
        except IntegrityError:
            # PostgreSQL: the user was deleted after the statement read it.
            return None
        if not opened:
            return None
        return self._pair(
            user_id=user_id,
            login_id=login_id,
            generation=0,
            version=credential_version,
            expires_at=expires_at,
        )

    def rotate(self, *, refresh_token: str) -> TokenPair:
        """Spend `refresh_token` and give the next pair. A spent one revokes its
        session, unless it is the one spent last, within the grace window."""
        try:
            claims = self.tokens.decode_refresh(refresh_token)
        except TokenError as exc:
            raise token_rejected(exc) from exc
        now = utcnow()
        identity = {"sid": claims.login_id, "uid": claims.user_id, "gen": claims.generation}
        oldest_login = now - self.max_lifetime
        with self.engine.begin() as connection:
            advanced = connection.execute(
                _ROTATE,
                {
                    **identity,
                    "oldest_login": oldest_login,
                    "new_expiry": now + self.refresh_ttl,
                    "now": now,
                },
            ).one_or_none()
            if advanced is None and self.reuse_grace:
                spent_after = now - self.reuse_grace
                advanced = connection.execute(
                    _WITHIN_GRACE,
                    {**identity, "oldest_login": oldest_login, "spent_after": spent_after},
                ).one_or_none()
            if advanced is None:
                connection.execute(_REVOKE_IF_REUSED, {**identity, "now": now})
        if advanced is None:
            raise token_rejected()
        return self._pair(
            user_id=claims.user_id,
            login_id=claims.login_id,
            generation=advanced.generation,
            version=advanced.credential_version,
            expires_at=min(advanced.expires_at, advanced.created_at + self.max_lifetime),
        )

    def revoke(self, *, refresh_token: str) -> None:
        """End the session of `refresh_token`, if it is one of ours; expired ones too."""
        try:
            claims = self.tokens.decode_refresh(refresh_token, verify_exp=False)
        except TokenError:
            return
        with self.engine.begin() as connection:
            connection.execute(
                _REVOKE,
                {"sid": claims.login_id, "uid": claims.user_id, "now": utcnow()},
            )

    @staticmethod
    def end_credentials(db: Session, *, user_id: int, keep: str | None = None) -> None:
        """Everything the user's present credentials opened stops working: the
        credential version moves on (so every access token fails) and every
        session but `keep` is revoked; `keep` moves to the new version. In the
        caller's transaction. The one way a password change, a reset, a
        deactivation or a sign-out everywhere ends credentials."""
        db.execute(
            update(_USERS)
            .where(_USERS.c.id == user_id)
            .values(credential_version=_USERS.c.credential_version + 1)
        )
        # Pending ORM changes first: they may be the reason for this.
        db.flush()
        revoke = update(_LOGINS).where(_LOGINS.c.user_id == user_id, _LOGINS.c.revoked_at.is_(None))
        if keep is not None:
            revoke = revoke.where(_LOGINS.c.id != keep)
            db.execute(_MOVE_TO_CURRENT_VERSION, {"sid": keep, "uid": user_id})
        db.execute(revoke.values(revoked_at=utcnow()))

    def authenticate(self, *, access_token: str) -> Principal:
        """The user behind a bearer token, in one query, or a 401."""
        try:
            claims = self.tokens.decode_access(access_token)
        except TokenError as exc:
            raise token_rejected(exc) from exc
        with self.engine.connect() as connection:
            row = connection.execute(
                _READ_PRINCIPAL,
                {"uid": claims.user_id, "sid": claims.login_id},
            ).one_or_none()
        if (
            row is None
            or row.revoked_at is not None
            or not row.is_active
            or row.credential_version != claims.credential_version
        ):
            raise token_rejected()
        return Principal(user=UserPublic.model_validate(row), login_id=claims.login_id)

    def _pair(
        self,
        *,
        user_id: int,
        login_id: str,
        generation: int,
        version: int,
        expires_at: datetime,
    ) -> TokenPair:
        access = self.tokens.access_token(
            AccessClaims(user_id=user_id, login_id=login_id, credential_version=version)
        )
        refresh = self.tokens.refresh_token(
            RefreshClaims(user_id=user_id, login_id=login_id, generation=generation),
            expires_at=expires_at,
        )
        return TokenPair(
            access_token=access,
            refresh_token=refresh,
            expires_in=int(self.tokens.access_ttl.total_seconds()),
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
