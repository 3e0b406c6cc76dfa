"""Settings: read once from the environment and an optional `.env` file."""

import os
import secrets
from contextvars import ContextVar
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from limits import parse as parse_limit
from pydantic import (
    AliasChoices,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from service import links, signing_keys
from service.networks import parse_networks
from service.smtp_url import SmtpConfig

MIN_SECRET_BYTES = 32
MAX_PROXY_HOPS = 16


class Settings(BaseSettings):
    # Inputs stay out of error messages: some are secrets and private keys.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", populate_by_name=True, hide_input_in_errors=True
    )

    environment: Literal["development", "production", "test"] = "development"
    database_url: str = "sqlite:///./accounts.db"
    secret_key: str | None = None
    # Where a development key is generated and kept, so restarts and every
    # worker sign with the same key.
    secret_key_file: str = ".secret_key"
    # JWT_ALGORITHM (ALGORITHM, its older name, still works): HS256 signs with
    # SECRET_KEY and needs no setup; EdDSA and ES256 sign with JWT_PRIVATE_KEYS,
    # whose public halves GET /.well-known/jwks.json publishes (signing_keys.py).
    algorithm: Literal["HS256", "HS384", "HS512", "EdDSA", "ES256"] = Field(
        "HS256", validation_alias=AliasChoices("JWT_ALGORITHM", "ALGORITHM", "algorithm")
    )
    # PEM blocks or @/path entries; one signs (JWT_SIGNING_KID, else the first),
    # the others only verify: a key being rotated in or out.
    jwt_private_keys: str | None = Field(None, repr=False)
    jwt_signing_kid: str | None = None
    # The tokens' `iss` and `aud`: by default PUBLIC_URL, both.
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    # How long caches may keep the JWKS: a new key is published this long before it signs.
    jwks_max_age_seconds: int = Field(600, ge=0, le=86400)
    access_token_expire_minutes: int = Field(15, ge=1)
    refresh_token_expire_days: int = Field(30, ge=1)
    session_max_lifetime_days: int = Field(90, ge=1)
    # Audit events older than this are deleted by `python -m service prune`.
    audit_retention_days: int = Field(90, ge=1)
    # A refresh token spent this recently may be presented again and get the
    # session's current pair instead of revoking it; 0 is strict reuse detection.
    refresh_reuse_grace_seconds: int = Field(10, ge=0, le=60)
    bcrypt_rounds: int = Field(12, ge=4, le=31)
    password_min_length: int = Field(8, ge=1, le=72)
    cors_origins: Annotated[list[str], NoDecode] = []
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    # Throttling (see service/throttling.py): `limits` strings, e.g. "5/minute".
    rate_limit_enabled: bool = True
    redis_url: str | None = None
    login_limit_per_account_address: str = "5/minute"
    # A few minutes at most: the owner on a new address waits this window out.
    login_limit_per_account: str = "8/5minutes"
    login_limit_per_address: str = "100/hour"
    signup_limit_per_address: str = "20/hour"
    refresh_limit_per_address: str = "300/minute"
    known_address_days: int = Field(30, ge=1)
    forgot_limit_per_address: str = "20/hour"
    # Mails per account, never a 429; the window must not outlive a reset link.
    forgot_limit_per_account: str = "2/15minutes"
    verify_limit_per_account: str = "5/hour"
    # An IPv6 /48 (one site) may make this many times a per-address limit, over its /64s.
    ipv6_network_factor: int = Field(10, ge=1)
    # Account recovery and email verification (service/recovery.py); email
    # change links (service/email_change.py) live as long as verification links.
    require_verified_email: bool = False
    reset_token_expire_minutes: int = Field(30, ge=1)
    verify_token_expire_minutes: int = Field(24 * 60, ge=1)
    # Where the messages link to (service/links.py): the web app's pages when
    # PUBLIC_APP_URL is set, else this service's own pages under PUBLIC_URL
    # (absolute: messages are written away from any request). In a template,
    # {token} is the token, {PUBLIC_APP_URL} and {PUBLIC_URL} those settings.
    public_url: str = "http://localhost:8000"
    public_app_url: str | None = None
    password_reset_url: str | None = None
    verify_email_url: str | None = None
    email_change_url: str | None = None
    # Mail (service/outbox.py): SMTP when SMTP_URL is set; otherwise the log in
    # development and test, and nothing in production.
    # Security notices by mail (account_mail.py), each kind switched off by its own setting.
    notify_new_login: bool = True
    notify_password_change: bool = True
    notify_email_change: bool = True
    notify_token_reuse: bool = True
    notify_session_ended: bool = True
    # A login is from a new device when no login of the account came from
    # that device and address in this many days.
    new_login_memory_days: int = Field(30, ge=1)
    smtp_url: str | None = None
    mail_from: str = "Accounts <accounts@localhost>"
    mail_backend: Literal["smtp", "console", "none"] | None = None
    # Who the client is (service/client_address.py): the entry this many places
    # from the right of X-Forwarded-For (each proxy in front appends one), or,
    # with 0, the peer, unless it is one of FORWARDED_ALLOW_IPS (IPs or CIDRs).
    trusted_proxy_hops: int = Field(0, ge=0, le=MAX_PROXY_HOPS)
    forwarded_allow_ips: str = "127.0.0.1"
    # The log (service/logging_setup.py): records below LOG_LEVEL are dropped.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    # Connections per worker. The threadpool that runs database work gets as
    # many threads, so no thread ever waits for a connection; overflow
    # connections are opened and closed per use, so they are off by default.
    db_pool_size: int = Field(10, ge=1)
    db_max_overflow: int = Field(0, ge=0)
    # Hashing threads per worker process: every core, shared among the workers.
    hash_threads: int = Field(default_factory=lambda: _default_hash_threads(), ge=1)

    @field_validator("database_url")
    @classmethod
    def _accept_heroku_postgres_scheme(cls, url: str) -> str:
        return normalize_database_url(url)

    @field_validator(
        "login_limit_per_account_address",
        "login_limit_per_account",
        "login_limit_per_address",
        "signup_limit_per_address",
        "refresh_limit_per_address",
        "forgot_limit_per_address",
        "forgot_limit_per_account",
        "verify_limit_per_account",
    )
    @classmethod
    def _parseable_limit(cls, value: str) -> str:
        parse_limit(value)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _format_in_any_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _trusted_proxies_are_addresses(cls, value: str) -> str:
        if "*" in value:
            raise ValueError(
                "'*' lets every client choose its own address; set TRUSTED_PROXY_HOPS "
                "to the number of proxies in front instead"
            )
        parse_networks(value)
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins_not_wildcards(cls, origins: list[str]) -> list[str]:
        """Each an origin as browsers send it (`https://app.example.com`): with
        cookie logins, CORS allows credentials, so "*" would hand every site
        the signed-in user's account."""
        normal = [origin.rstrip("/").lower() for origin in origins]
        for origin in normal:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
                raise ValueError(
                    f"CORS_ORIGINS lists origins such as https://app.example.com, not {origin!r}"
                )
        return normal

    @field_validator("password_reset_url", "verify_email_url", "email_change_url")
    @classmethod
    def _link_carries_the_token(cls, template: str | None) -> str | None:
        if template and "{token}" not in template:
            raise ValueError("must contain {token}, where the link carries the token")
        return template or None

    @field_validator("public_url", "public_app_url")
    @classmethod
    def _web_url(cls, url: str | None, info: ValidationInfo) -> str | None:
        # An empty PUBLIC_APP_URL means no web app; the service's own URL is always needed.
        return links.require_web_url(url) if url or info.field_name == "public_url" else None

    @model_validator(mode="after")
    def _links_open_a_web_page(self) -> "Settings":
        given = {setting: getattr(self, setting) for setting in links.LINK_SETTINGS}
        filled = links.resolve(given, public_url=self.public_url, app_url=self.public_app_url)
        for setting, template in filled.items():
            setattr(self, setting, template)
        return self

    @field_validator("smtp_url")
    @classmethod
    def _usable_smtp_url(cls, url: str | None) -> str | None:
        if url:
            SmtpConfig.from_url(url)
        return url or None

    @model_validator(mode="after")
    def _mail_backend_has_what_it_needs(self) -> "Settings":
        if self.mail_backend == "smtp" and not self.smtp_url:
            raise ValueError("MAIL_BACKEND=smtp needs SMTP_URL")
        return self

    @model_validator(mode="after")
    def _reset_mail_window_within_link_life(self) -> "Settings":
        # Past the per-account bound no new link is mailed: the last one must still work.
        window = parse_limit(self.forgot_limit_per_account).get_expiry()
        if window > self.reset_token_expire_minutes * 60:
            raise ValueError(
                "FORGOT_LIMIT_PER_ACCOUNT's window must not be longer than "
                "RESET_TOKEN_EXPIRE_MINUTES"
            )
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production_key(self) -> "Settings":
        if self.environment != "production":
            return self
        if not self.secret_key:
            raise ValueError("SECRET_KEY must be set when ENVIRONMENT=production")
        if len(self.secret_key.encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"SECRET_KEY must be at least {MIN_SECRET_BYTES} bytes when ENVIRONMENT=production"
            )
        return self

    @model_validator(mode="after")
    def _usable_signing_keys(self) -> "Settings":
        # Checked now, without the secret (which may not exist yet): the ring
        # built here is dropped, create_app builds the serving one.
        self._ring(secret=secrets.token_urlsafe(32))
        return self

    def _ring(self, *, secret: str) -> signing_keys.KeyRing:
        try:
            return signing_keys.build_key_ring(
                algorithm=self.algorithm,
                secret=secret,
                private_pems=signing_keys.read_private_keys(self.jwt_private_keys),
                signing_kid=self.jwt_signing_kid,
            )
        except signing_keys.KeyConfigError as exc:
            raise ValueError(str(exc)) from None

    def key_ring(self) -> signing_keys.KeyRing:
        """The keys tokens are signed and checked with, built anew on each call."""
        return self._ring(secret=self.signing_key)

    def legacy_refresh_key(self) -> signing_keys.SigningKey:
        """SECRET_KEY as refresh tokens from before kids (or before EdDSA or ES256) were signed."""
        hmac = self.algorithm if self.algorithm in signing_keys.HMAC_ALGORITHMS else "HS256"
        return signing_keys.hmac_key(self.signing_key, hmac)

    @property
    def token_issuer(self) -> str:
        return self.jwt_issuer or self.public_url.rstrip("/")

    @property
    def token_audience(self) -> str:
        return self.jwt_audience or self.token_issuer

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def effective_mail_backend(self) -> str:
        if self.mail_backend:
            return self.mail_backend
        if self.smtp_url:
            return "smtp"
        return "none" if self.environment == "production" else "console"

    def app_link(self, template: str | None, token: str) -> str:
        """The link of `template` (a link setting, filled in at start) for `token`."""
        return links.fill(template or "", token, self.public_url, self.public_app_url)

    @cached_property
    def signing_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        return _load_or_create_key(Path(self.secret_key_file))


def normalize_database_url(url: str) -> str:
    """Accept Heroku's `postgres://` URLs, which SQLAlchemy no longer does."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url.removeprefix(prefix)
    return url


def _default_hash_threads() -> int:
    workers = int(os.environ.get("WEB_CONCURRENCY", "1") or 1)
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def _load_or_create_key(path: Path) -> str:
    """Read the development key, creating it first if no one has.

    Several workers may start at once: the key is written to a private temp
    file and hard-linked into place, which fails if another worker won the
    race, so nobody ever reads a half-written key.
    """
    if not path.exists():
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


@lru_cache
def load_settings() -> Settings:
    """The settings of this process; a bad configuration stops it with one line."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SystemExit(f"error: invalid configuration: {_one_line(exc)}") from None


def _one_line(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part).upper() for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


# The settings of the application serving the current request. Request-body
# validators run inside pydantic, where no dependency can reach them.
_serving: ContextVar[Settings | None] = ContextVar("serving_settings", default=None)


def serving_settings() -> Settings:
    return _serving.get() or load_settings()


def serve_with(settings: Settings) -> object:
    """Make `settings` what `serving_settings()` gives in this context; returns a reset token."""
    return _serving.set(settings)


def stop_serving(token: object) -> None:
    _serving.reset(token)  # type: ignore[arg-type]
