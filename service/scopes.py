"""Roles and the scopes they grant: the catalogue, and the OAuth2 `scope`
parameter (RFC 6749 3.3). Nothing here knows about HTTP or the database.

A scope names one thing a token may do. The `profile:`, `sessions:` and
`events:` scopes act on the token's own account; the `users:` scopes act on
any account, and only an admin's token can hold them.
"""

from collections.abc import Iterable
from enum import StrEnum


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


PROFILE_READ = "profile:read"
PROFILE_WRITE = "profile:write"
SESSIONS_READ = "sessions:read"
SESSIONS_WRITE = "sessions:write"
EVENTS_READ = "events:read"
USERS_READ = "users:read"
USERS_WRITE = "users:write"

# Shown by Swagger's Authorize dialog and listed in the server metadata.
DESCRIPTIONS: dict[str, str] = {
    PROFILE_READ: "Read your own account",
    PROFILE_WRITE: "Change or delete your own account",
    SESSIONS_READ: "List your own sessions",
    SESSIONS_WRITE: "End your own sessions",
    EVENTS_READ: "Read your own account's security events",
    USERS_READ: "Admins: read any account, its sessions and its events",
    USERS_WRITE: "Admins: change, deactivate or delete any account, and end its sessions",
}

_OWN = frozenset({PROFILE_READ, PROFILE_WRITE, SESSIONS_READ, SESSIONS_WRITE, EVENTS_READ})
ALLOWED: dict[Role, frozenset[str]] = {
    Role.USER: _OWN,
    Role.ADMIN: _OWN | {USERS_READ, USERS_WRITE},
}

# What acting on another account needs in place of a scope on one's own.
ON_OTHERS: dict[str, str] = {
    PROFILE_READ: USERS_READ,
    PROFILE_WRITE: USERS_WRITE,
    SESSIONS_READ: USERS_READ,
    SESSIONS_WRITE: USERS_WRITE,
    EVENTS_READ: USERS_READ,
}


class ScopeError(ValueError):
    """A `scope` parameter that is malformed or names scopes we do not have."""


def parse(text: str | None) -> frozenset[str] | None:
    """The scopes a `scope` parameter asks for; None when it asks for none
    (absent or blank), which means the role's default set."""
    if text is None or not text.strip(" "):
        return None
    # RFC 6749 3.3: names separated by spaces. Every name we have is plain
    # ASCII, so whatever is not in the catalogue (malformed too) is unknown.
    names = frozenset(name for name in text.split(" ") if name)
    unknown = names - DESCRIPTIONS.keys()
    if unknown:
        raise ScopeError
    return names


def grant(role: Role | str, requested: frozenset[str] | None) -> frozenset[str]:
    """What a login of `role` gets when it asks for `requested`: the whole
    role when it names nothing, else what it named that the role allows
    (possibly nothing: the caller refuses an empty grant)."""
    return allowed(role) if requested is None else requested & allowed(role)


def allowed(role: Role | str) -> frozenset[str]:
    """Every scope a login of `role` may be granted."""
    return ALLOWED[role_of(role)]


def role_of(value: str) -> Role:
    """A stored role; one this version does not know grants the least."""
    try:
        return Role(value)
    except ValueError:
        return Role.USER


def to_text(scopes: Iterable[str]) -> str:
    """The `scope` string of a set, in a stable order."""
    return " ".join(sorted(scopes))


def of_text(text: str) -> frozenset[str]:
    return frozenset(name for name in text.split(" ") if name)
