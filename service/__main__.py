"""Command line: `python -m service [serve | migrate | prune | keys | create-superuser]`."""

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from service.config import Settings, load_settings

if TYPE_CHECKING:
    from service.database import Database
    from service.models import User


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="apply migrations on SQLite, then serve on $PORT (default)")
    commands.add_parser("migrate", help="bring the database schema up to date")
    commands.add_parser(
        "prune",
        help="delete ended login sessions, dead mailed tokens, spent throttling counters "
        "and audit events past AUDIT_RETENTION_DAYS (run it daily)",
    )
    superuser = commands.add_parser(
        "create-superuser",
        help="create a superuser, or promote an existing user; the password comes from "
        "$SUPERUSER_PASSWORD or a prompt",
    )
    superuser.add_argument("--email", required=True)
    superuser.add_argument("--full-name", default=None)
    keys = commands.add_parser(
        "keys",
        help="generate a private key for JWT_PRIVATE_KEYS and print its kid and what to set "
        "(writes no file unless --out is given)",
    )
    keys.add_argument("--algorithm", choices=["EdDSA", "ES256"], default="EdDSA")
    keys.add_argument("--out", type=Path, help="write the PEM to this new file (mode 0600)")
    args = parser.parse_args(argv)

    if args.command == "keys":
        # Needs no settings: a key is made before the configuration that uses it.
        return _keys(args.algorithm, args.out)
    settings = load_settings()
    if args.command == "migrate":
        return _migrate(settings)
    if args.command == "prune":
        return _prune(settings)
    if args.command == "create-superuser":
        return _create_superuser(settings, email=args.email, full_name=args.full_name)
    return _serve(settings)


def _keys(algorithm: str, out: Path | None) -> int:
    from service.signing_keys import generate_private_key, private_pem

    key = generate_private_key(algorithm)
    pem = private_pem(key.private)
    if out is not None:
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            print(f"error: cannot create {out}: {exc.strerror}", file=sys.stderr)
            return 1
        with os.fdopen(fd, "w") as handle:
            handle.write(pem)
    print(f"# A new {algorithm} signing key, kid {key.kid}.")
    print("# To rotate, add it to the keys you have, publish, wait JWKS_MAX_AGE_SECONDS,")
    print("# then make it the signer (README: Tokens for other services).")
    print(f"JWT_ALGORITHM={algorithm}")
    if out is not None:
        print(f"JWT_PRIVATE_KEYS=@{out.resolve()}")
    else:
        print(f'JWT_PRIVATE_KEYS="{pem.strip()}"')
    print(f"JWT_SIGNING_KID={key.kid}")
    return 0


def _migrate(settings: Settings) -> int:
    from service.database import migrate

    migrate(settings.database_url)
    return 0


def _prune(settings: Settings) -> int:
    from datetime import timedelta

    from service import account_tokens, audit
    from service.database import Database
    from service.logins import prune_logins
    from service.models import utcnow
    from service.ratelimit_storage import DatabaseStorage

    retention = settings.audit_retention_days
    database = Database(settings)
    try:
        with database.sessions() as db:
            sessions = prune_logins(db)
            tokens = account_tokens.prune(db)
            events = audit.prune(db, older_than=utcnow() - timedelta(days=retention))
        counters = DatabaseStorage(database.engine).prune()
    finally:
        database.dispose()
    print(
        f"pruned {sessions} ended sessions, {tokens} dead reset and verification tokens, "
        f"{counters} spent throttling counters and {events} audit events older than "
        f"{retention} days"
    )
    return 0


def _serve(settings: Settings) -> int:
    import uvicorn

    from service.logging_setup import configure_logging

    configure_logging(level=settings.log_level, log_format=settings.log_format)
    if settings.is_sqlite:
        # The zero-setup default: the first run creates the schema itself.
        _migrate(settings)
    settings.signing_key  # noqa: B018 - create the development key before workers race for it
    uvicorn.run(
        "service.main:create_app",
        factory=True,
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
        workers=int(os.environ.get("WEB_CONCURRENCY", "1")),
        # The service reads X-Forwarded-For itself (service/client_address.py).
        proxy_headers=False,
        # Logging is the service's own, uvicorn's loggers included.
        log_config=None,
    )
    return 0


class _CommandError(Exception):
    """A refusal the operator can act on: printed as `error: ...`, exit status `status`."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _create_superuser(settings: Settings, *, email: str, full_name: str | None) -> int:
    from service.database import Database
    from service.emails import InvalidEmailError, normalize_email

    database = Database(settings)
    try:
        # The form sign-up stores, so an existing account is found in any of its spellings.
        email, verb = _make_superuser(database, settings, normalize_email(email), full_name)
    except InvalidEmailError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except _CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.status
    finally:
        database.dispose()
    print(f"superuser {email} {verb}")
    return 0


def _make_superuser(
    database: "Database", settings: Settings, email: str, full_name: str | None
) -> tuple[str, str]:
    """Promote the account at `email`, or create it; answer its stored email and what was done."""
    from service.logins import LoginStore
    from service.models import User

    with database.sessions() as db:
        user = db.scalar(select(User).where(User.email == email))
        verb = "promoted"
        if user is None:
            user = _new_user(settings, email, full_name)
            db.add(user)
            verb = "created"
        if verb == "promoted" and not user.is_superuser:
            # Its logins were granted a user's scopes: they end, and the next
            # login is an admin's (as a role change through the API does).
            LoginStore.end_credentials(db, user_id=user.id)
        user.is_superuser = True
        user.is_active = True
        # The operator vouches for the address; a superuser need not wait for a link.
        user.is_verified = True
        try:
            db.commit()
        except IntegrityError:
            # Someone signed up with this address since it was looked up.
            raise _CommandError(f"{email} was just taken; run the command again", 1) from None
        return user.email, verb


def _new_user(settings: Settings, email: str, full_name: str | None) -> "User":
    from service.models import User
    from service.schemas import UserCreate
    from service.security import PasswordHasher

    password = os.environ.get("SUPERUSER_PASSWORD") or getpass.getpass("Password: ")
    try:
        # Sign-up's own rules, so a superuser's password is held to the same standard.
        data = UserCreate(email=email, password=password, full_name=full_name)
    except ValidationError as exc:
        problems = "; ".join(str(error["msg"]) for error in exc.errors())
        raise _CommandError(problems, 2) from None
    hasher = PasswordHasher(rounds=settings.bcrypt_rounds, threads=1)
    return User(
        email=data.email, full_name=data.full_name, hashed_password=hasher.hash_now(data.password)
    )


if __name__ == "__main__":
    sys.exit(main())
