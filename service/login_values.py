"""What logins.py hands the services: who a request acts as, a login as its
owner sees it, a pair of tokens, and the refusals of a token."""

from dataclasses import dataclass
from datetime import datetime

from service.models import UserRecord
from service.problems import DomainError, Problem
from service.security import TokenError, TokenExpiredError


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: the user as it was when the request began, and
    the login its token belongs to. Changes reload the user in their own
    transaction."""

    user: UserRecord
    login_id: str
    credential_version: int
    # What the token was granted: the routes' Security(scopes=...) check these.
    scopes: frozenset[str]


@dataclass(frozen=True)
class LiveLogin:
    """A login as its owner sees it: when and where it started, when its
    refresh token was last used, and when it ends unless used again."""

    id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    ip: str | None
    device: str | None


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    # The granted scopes, space-separated (RFC 6749 5.1).
    scope: str
    # Seconds the refresh token lives: how long a cookie login keeps its cookies.
    refresh_expires_in: int
    # Whose login the pair belongs to, for the audit trail; never sent.
    user_id: int
    login_id: str


@dataclass(frozen=True)
class EndedLogin:
    user_id: int
    login_id: str


class RefreshReuseError(DomainError):
    """A spent refresh token was presented, and its login is revoked for it.
    Told like any refused token; the services record it."""

    def __init__(self, ended: EndedLogin) -> None:
        super().__init__(Problem.TOKEN_INVALID)
        self.ended = ended


def token_rejected(exc: TokenError | None = None) -> DomainError:
    expired = isinstance(exc, TokenExpiredError)
    return DomainError(Problem.TOKEN_EXPIRED if expired else Problem.TOKEN_INVALID)
