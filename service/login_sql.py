"""The statements of logins.py's hot paths, built once: building a Core
statement (and its cache key) costs more than running it. Parameter names
must differ from column names in UPDATEs."""

from sqlalchemy import bindparam, insert, literal, select, update

from service.models import USER_RECORD_COLUMNS, Login, User

_LOGINS = Login.__table__
_USERS = User.__table__

# The credential version of the login's user, if that user is still active:
# a login opened or kept under another version, or of a deactivated user, is over.
_ACTIVE_USERS_VERSION = (
    select(_USERS.c.credential_version)
    .where(_USERS.c.id == _LOGINS.c.user_id, _USERS.c.is_active.is_(True))
    .scalar_subquery()
)
READ_PRINCIPAL = (
    select(
        *USER_RECORD_COLUMNS,
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
    _LOGINS.c.scope,
)
# One statement spends the token and checks the session is live and still
# under the user's credentials, so concurrent uses cannot both win.
ROTATE = (
    update(_LOGINS)
    .where(
        _LOGINS.c.id == bindparam("sid"),
        _LOGINS.c.user_id == bindparam("uid"),
        _LOGINS.c.generation == bindparam("gen"),
        _LOGINS.c.revoked_at.is_(None),
        _LOGINS.c.created_at > bindparam("oldest_login"),
        # A session opened or kept under an older password, or of a user
        # deactivated since, is over however its token reached us.
        _LOGINS.c.credential_version == _ACTIVE_USERS_VERSION,
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
WITHIN_GRACE = select(*_ADVANCED).where(
    _LOGINS.c.id == bindparam("sid"),
    _LOGINS.c.user_id == bindparam("uid"),
    _LOGINS.c.generation == bindparam("gen") + 1,
    _LOGINS.c.revoked_at.is_(None),
    _LOGINS.c.rotated_at > bindparam("spent_after"),
    _LOGINS.c.created_at > bindparam("oldest_login"),
    _LOGINS.c.credential_version == _ACTIVE_USERS_VERSION,
)
# A generation older than the session's is a token already spent: whoever
# holds it, the session can no longer be trusted.
REVOKE_IF_REUSED = (
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
REVOKE = update(_LOGINS).where(*_THIS_LIVE_SESSION).values(revoked_at=bindparam("now"))
# A login opens its session only if the credentials it checked are still the
# user's: a password change, reset, deactivation or deletion that commits
# while the hash is being checked leaves nothing to insert.
OPEN = insert(_LOGINS).from_select(
    [
        "id",
        "user_id",
        "generation",
        "credential_version",
        "created_at",
        "expires_at",
        "ip",
        "user_agent",
        "device",
        "scope",
    ],
    select(
        bindparam("sid", type_=_LOGINS.c.id.type),
        _USERS.c.id,
        literal(0),
        _USERS.c.credential_version,
        bindparam("now", type_=_LOGINS.c.created_at.type),
        bindparam("expiry", type_=_LOGINS.c.expires_at.type),
        bindparam("ip", type_=_LOGINS.c.ip.type),
        bindparam("user_agent", type_=_LOGINS.c.user_agent.type),
        bindparam("device", type_=_LOGINS.c.device.type),
        bindparam("scope", type_=_LOGINS.c.scope.type),
    ).where(
        _USERS.c.id == bindparam("uid"),
        _USERS.c.credential_version == bindparam("version"),
        _USERS.c.is_active.is_(True),
    ),
)
# The session a password change is made from stays signed in, under the new version.
MOVE_TO_CURRENT_VERSION = (
    update(_LOGINS)
    .where(*_THIS_LIVE_SESSION)
    .values(
        credential_version=select(_USERS.c.credential_version)
        .where(_USERS.c.id == bindparam("uid"))
        .scalar_subquery()
    )
)

# A user's logins that can still be refreshed: not revoked, not past their
# token or their lifetime, and opened (or kept) under the present credentials.
_LIVE = (
    _LOGINS.c.user_id == bindparam("uid"),
    _LOGINS.c.revoked_at.is_(None),
    _LOGINS.c.expires_at > bindparam("now"),
    _LOGINS.c.created_at > bindparam("oldest_login"),
    _LOGINS.c.credential_version == _ACTIVE_USERS_VERSION,
)
LIVE = (
    select(
        _LOGINS.c.id,
        _LOGINS.c.created_at,
        _LOGINS.c.rotated_at,
        _LOGINS.c.expires_at,
        _LOGINS.c.ip,
        _LOGINS.c.device,
    )
    .where(*_LIVE)
    .order_by(_LOGINS.c.created_at.desc(), _LOGINS.c.id)
)
# Ending one login, or all but one: revoked, as a logout revokes.
END_ONE = (
    update(_LOGINS)
    .where(*_THIS_LIVE_SESSION)
    .values(revoked_at=bindparam("now"))
    .returning(_LOGINS.c.device)
)
END_ALL_BUT = (
    update(_LOGINS)
    .where(
        _LOGINS.c.user_id == bindparam("uid"),
        _LOGINS.c.revoked_at.is_(None),
        _LOGINS.c.id != bindparam("keep"),
    )
    .values(revoked_at=bindparam("now"))
    .returning(_LOGINS.c.id)
)
# Whether the user opened a login from this device and address lately (the
# new-sign-in notice); revoked ones count: the device was the user's then.
OPENED_FROM = (
    select(literal(1))
    .where(
        _LOGINS.c.user_id == bindparam("uid"),
        _LOGINS.c.device == bindparam("device"),
        _LOGINS.c.ip == bindparam("ip"),
        _LOGINS.c.created_at >= bindparam("since"),
    )
    .limit(1)
)
# The owner and device of a login, for the notice that it was signed out.
OWNER_OF = (
    select(_USERS.c.email, _LOGINS.c.device)
    .join_from(_LOGINS, _USERS, _USERS.c.id == _LOGINS.c.user_id)
    .where(_LOGINS.c.id == bindparam("sid"))
)
