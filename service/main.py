"""The application factory: `uvicorn --factory service.main:create_app`."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from anyio import to_thread
from fastapi import FastAPI

from service.account_mail import AccountMail
from service.accounts import Accounts
from service.audit import AuditTrail
from service.authentication import Authentication
from service.client_address import ClientAddress, ClientAddressMiddleware
from service.config import Settings, load_settings
from service.cookie_logins import CookieLogins
from service.database import Database
from service.devices import warm_up as warm_up_device_names
from service.email_change import EmailChanges
from service.error_handlers import install_error_handlers
from service.logging_setup import configure_logging
from service.login_sessions import LoginSessions
from service.logins import LoginStore
from service.methods import MethodsMiddleware
from service.middleware import (
    BodySizeLimitMiddleware,
    EnvelopeCORSMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
)
from service.networks import parse_networks
from service.openapi import install_openapi
from service.outbox import Outbox, make_mailer
from service.parts import Parts
from service.ratelimit_headers import RateLimitHeadersMiddleware
from service.recovery import Recovery
from service.routes import (
    auth,
    cookies,
    docs,
    events,
    health,
    metadata,
    pages,
    revoke,
    sessions,
    users,
    wellknown,
)
from service.routes import recovery as recovery_routes
from service.security import PasswordHasher, TokenCodec
from service.throttling import make_throttle

DESCRIPTION = """
Sign-up, OAuth2 login with rotating refresh tokens, and account management.

Use **Authorize** with your email as the username to call the protected routes.
Every error answers `{"errors": [{"code", "message", "field"}]}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(level=settings.log_level, log_format=settings.log_format)
    database = Database(settings)
    hasher = PasswordHasher(rounds=settings.bcrypt_rounds, threads=settings.hash_threads)
    outbox = Outbox(make_mailer(settings))
    audit = AuditTrail(database.engine)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Threads beyond the pool would only wait for a connection.
        to_thread.current_default_thread_limiter().total_tokens = (
            settings.db_pool_size + settings.db_max_overflow
        )
        yield
        hasher.shutdown()
        # Messages already handed over still go out (each within the SMTP timeout).
        outbox.shutdown(wait=True)
        # Events still queued are written before the connections go.
        audit.shutdown()
        database.dispose()

    app = FastAPI(
        title="Account service",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # routes/docs.py serves both pages without a CDN or an inline script.
        docs_url=None,
        redoc_url=None,
    )
    _wire_services(app, settings, database, hasher, outbox, audit)
    install_error_handlers(app)
    _install_middleware(app, settings)
    _include_routes(app)
    install_openapi(app, settings)
    return app


def _include_routes(app: FastAPI) -> None:
    app.include_router(auth.router)
    app.include_router(revoke.router)
    app.include_router(metadata.router)
    app.include_router(cookies.router)
    # Before users: /users/me/sessions must not be read as /users/{user_id}/sessions.
    app.include_router(sessions.router)
    app.include_router(users.router)
    app.include_router(events.router)
    app.include_router(recovery_routes.router)
    app.include_router(health.router)
    app.include_router(wellknown.router)
    # HTML for a person, outside the OpenAPI document (routes/pages.py).
    app.include_router(pages.router)
    app.include_router(docs.router)


def _wire_services(
    app: FastAPI,
    settings: Settings,
    database: Database,
    hasher: PasswordHasher,
    outbox: Outbox,
    audit: AuditTrail,
) -> None:
    """The services, built once from the same parts: each route takes the one it needs."""
    throttle = make_throttle(settings, database.autocommit)
    logins = _login_store(settings, database)
    parts = Parts(
        database=database,
        hasher=hasher,
        logins=logins,
        throttle=throttle,
        mail=AccountMail(outbox=outbox, settings=settings),
        audit=audit,
        settings=settings,
    )
    app.state.database = database
    app.state.audit = audit
    app.state.throttle = throttle
    app.state.published_keys = logins.tokens.keys.published(
        max_age_seconds=settings.jwks_max_age_seconds
    )
    app.state.accounts = Accounts(parts)
    app.state.authentication = Authentication(parts)
    app.state.recovery = Recovery(parts)
    app.state.login_sessions = LoginSessions(parts)
    app.state.email_changes = EmailChanges(parts)
    app.state.cookie_logins = CookieLogins(settings)
    # uap-core's rules load on first use, which takes a good part of a second.
    warm_up_device_names()


def _login_store(settings: Settings, database: Database) -> LoginStore:
    tokens = TokenCodec(
        keys=settings.key_ring(),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        access_ttl=timedelta(minutes=settings.access_token_expire_minutes),
        legacy_refresh_key=settings.legacy_refresh_key(),
    )
    return LoginStore(
        database=database,
        tokens=tokens,
        refresh_ttl=timedelta(days=settings.refresh_token_expire_days),
        max_lifetime=timedelta(days=settings.session_max_lifetime_days),
        reuse_grace=timedelta(seconds=settings.refresh_reuse_grace_seconds),
    )


def _install_middleware(app: FastAPI, settings: Settings) -> None:
    # Innermost: it reads the routes, and CORS answers preflights before it.
    app.add_middleware(MethodsMiddleware, router=app.router)
    app.add_middleware(RateLimitHeadersMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            EnvelopeCORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID", "X-CSRF-Token"],
            # Cookie logins: CORS_ORIGINS never holds "*" (config.py refuses it),
            # so credentials are only ever allowed to the origins listed.
            allow_credentials=True,
            expose_headers=[
                "Location",
                "Retry-After",
                "X-Request-ID",
                "RateLimit-Policy",
                "RateLimit",
            ],
        )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    # Outermost of ours: every response, a 500 included, gets an id.
    app.add_middleware(RequestContextMiddleware, settings=settings)
    # Outside even that, so the last-resort 500 carries these headers too.
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.environment == "production")
    # Outermost: everything inside sees the client, not the proxy in front.
    app.add_middleware(
        ClientAddressMiddleware,
        resolver=ClientAddress(
            hops=settings.trusted_proxy_hops,
            trusted=parse_networks(settings.forwarded_allow_ips),
        ),
    )
