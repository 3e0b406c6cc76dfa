"""Password hashing and tokens: the only module that knows passlib, and with
signing_keys.py the only one that knows PyJWT."""

import asyncio
import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from passlib.context import CryptContext

from service.signing_keys import KeyRing, SigningKey

BCRYPT_MAX_BYTES = 72


def exceeds_bcrypt_limit(password: str) -> bool:
    return len(password.encode(errors="surrogatepass")) > BCRYPT_MAX_BYTES


def _hashable(password: str) -> bool:
    """bcrypt takes at most 72 bytes of UTF-8 and no NUL byte."""
    if "\x00" in password or exceeds_bcrypt_limit(password):
        return False
    try:
        password.encode()
    except UnicodeEncodeError:
        return False
    return True


class PasswordHasher:
    """bcrypt on a few dedicated threads, never on the event loop.

    bcrypt releases the GIL while it works, so `threads` hashes run truly in
    parallel; the pool is sized to the cores so a login storm queues instead
    of oversubscribing the CPU that every other request needs too.
    """

    def __init__(self, *, rounds: int, threads: int) -> None:
        self._context = CryptContext(schemes=["bcrypt"], bcrypt__rounds=rounds)
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bcrypt")
        # Unknown accounts are checked against this, so they take as long as real ones.
        self._dummy_hash = self._context.hash(secrets.token_urlsafe(16))

    def hash_now(self, password: str) -> str:
        """Hash on the calling thread: for the command line, never a request."""
        if not _hashable(password):
            raise ValueError("bcrypt cannot hash this password")
        return self._context.hash(password)

    async def hash(self, password: str) -> str:
        return await self._run(self.hash_now, password)

    async def verify(self, password: str, hashed: str | None) -> tuple[bool, str | None]:
        """Check `password`; give (matches, a new hash when the stored one is outdated).

        With no stored hash (unknown account) it still spends one bcrypt run.
        """
        if not _hashable(password):
            # No stored password can be like this (sign-up refuses them), and bcrypt would raise.
            return False, None
        if hashed is None:
            await self._run(self._context.verify, password, self._dummy_hash)
            return False, None
        return await self._run(self._context.verify_and_update, password, hashed)

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


ACCESS = "access"
REFRESH = "refresh"
# The JOSE `typ` of each kind: RFC 9068's for access tokens; our own for refresh tokens.
TYPES = {ACCESS: "at+jwt", REFRESH: "refresh+jwt"}


class TokenError(Exception):
    """A token that is malformed, forged, of the wrong type or expired."""


class TokenExpiredError(TokenError):
    pass


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    login_id: str
    credential_version: int
    # RFC 9068 2.2.3: the granted scopes, space-separated, as the token response says them.
    scope: str


@dataclass(frozen=True)
class RefreshClaims:
    user_id: int
    login_id: str
    generation: int


class TokenCodec:
    """Signs the service's JWTs with the ring's signing key and checks them
    against the ring: a token names its key by kid, and must use that key's
    algorithm, issuer, audience and type."""

    def __init__(
        self,
        *,
        keys: KeyRing,
        issuer: str,
        audience: str,
        access_ttl: timedelta,
        legacy_refresh_key: SigningKey | None = None,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.access_ttl = access_ttl
        # Refresh tokens of the secret from before kids (or before an
        # asymmetric signer) still renew their logins instead of signing
        # everyone out: refresh grant only, until they expire.
        self._legacy_refresh_key = legacy_refresh_key

    def access_token(self, claims: AccessClaims, *, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        return self._encode(
            ACCESS,
            claims.user_id,
            now,
            now + self.access_ttl,
            sid=claims.login_id,
            ver=claims.credential_version,
            scope=claims.scope,
        )

    def refresh_token(self, claims: RefreshClaims, *, expires_at: datetime) -> str:
        return self._encode(
            REFRESH,
            claims.user_id,
            datetime.now(UTC),
            expires_at,
            sid=claims.login_id,
            gen=claims.generation,
        )

    def decode_access(self, token: str) -> AccessClaims:
        payload = self._decode(token, ACCESS, verify_exp=True)
        return AccessClaims(
            user_id=_user_id(payload),
            login_id=_login_id(payload),
            credential_version=_counter(payload, "ver"),
            scope=_scope(payload),
        )

    def decode_refresh(self, token: str, *, verify_exp: bool = True) -> RefreshClaims:
        payload = self._decode(token, REFRESH, verify_exp=verify_exp)
        return RefreshClaims(
            user_id=_user_id(payload),
            login_id=_login_id(payload),
            generation=_counter(payload, "gen"),
        )

    def _encode(
        self, kind: str, user_id: int, now: datetime, expires: datetime, **extra: Any
    ) -> str:
        claims = {
            "type": kind,
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": uuid.uuid4().hex,
            **extra,
        }
        key = self.keys.signing
        headers = {"kid": key.kid, "typ": TYPES[kind]}
        return jwt.encode(claims, key.private, algorithm=key.algorithm, headers=headers)

    def _decode(self, token: str, kind: str, *, verify_exp: bool) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            key, legacy = self._key_for(header, kind)
            payload = jwt.decode(
                token,
                key.public,
                # The key's own algorithm only: an ES256 key is never an HMAC secret.
                algorithms=[key.algorithm],
                audience=None if legacy else self.audience,
                issuer=None if legacy else self.issuer,
                options=_LEGACY_OPTIONS[verify_exp] if legacy else _OPTIONS[verify_exp],
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpiredError from exc
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise TokenError from exc
        if payload.get("type") != kind:
            raise TokenError
        return payload

    def _key_for(self, header: dict[str, Any], kind: str) -> tuple[SigningKey, bool]:
        """The key `header` names, and whether the token is from before kids."""
        if header.get("alg") is None or header.get("alg") == "none":
            raise TokenError
        if "kid" not in header and kind == REFRESH and self._legacy_refresh_key:
            return self._legacy_refresh_key, True
        key = self.keys.find(header.get("kid"))
        legacy = self._legacy_refresh_key
        if key is None and kind == REFRESH and legacy and header.get("kid") == legacy.kid:
            key = legacy
        if key is None or header.get("alg") != key.algorithm:
            raise TokenError
        if header.get("typ") != TYPES[kind]:
            raise TokenError
        return key, False


def _options(*, verify_exp: bool, legacy: bool) -> dict[str, Any]:
    # `exp` is required only when it is checked: logout takes expired refresh tokens.
    required = ["sub", "iat", *(["exp"] if verify_exp else [])]
    return {
        "verify_exp": verify_exp,
        # Not an authorization fact: a clock a second behind must not refuse a fresh token.
        "verify_iat": False,
        "require": required if legacy else [*required, "iss", "aud"],
    }


_OPTIONS = {flag: _options(verify_exp=flag, legacy=False) for flag in (True, False)}
_LEGACY_OPTIONS = {flag: _options(verify_exp=flag, legacy=True) for flag in (True, False)}


def _user_id(payload: dict[str, Any]) -> int:
    sub = payload.get("sub")
    if not isinstance(sub, str) or not (sub.isascii() and sub.isdigit()) or len(sub) > 12:
        raise TokenError
    return int(sub)


def _login_id(payload: dict[str, Any]) -> str:
    sid = payload.get("sid")
    if not isinstance(sid, str) or len(sid) != 32:
        raise TokenError
    return sid


def _counter(payload: dict[str, Any], name: str) -> int:
    value = payload.get(name)
    # bool is an int in Python; a token saying `true` is not a counter.
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31:
        raise TokenError
    return value


def _scope(payload: dict[str, Any]) -> str:
    # Required: a token from before scopes says nothing of what it may do,
    # and is refused (its client refreshes) rather than guessed at.
    scope = payload.get("scope")
    if not isinstance(scope, str) or len(scope) > 1024:
        raise TokenError
    return scope
