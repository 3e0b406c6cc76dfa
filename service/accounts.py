"""Account rules between the routes and the database: sign up, authenticate,
change, delete. Hashing runs on the hasher's threads and database work on
the threadpool, so none of it blocks the event loop.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from starlette.concurrency import run_in_threadpool

from service import account_tokens, superusers
from service.account_mail import AccountMail, Requester
from service.account_tokens import Purpose
from service.config import Settings
from service.emails import lookup_form
from service.logins import LoginStore, token_rejected
from service.models import MAX_ID, User
from service.passwords import password_problems
from service.problems import DomainError, Problem
from service.schemas import UserCreate, UserPublic, UserUpdate
from service.security import PasswordHasher
from service.throttling import LoginAttempt, Throttle

T = TypeVar("T")

# Fields a user may change on itself that need its current password.
_REAUTH_FIELDS = frozenset({"email", "password"})
_SUPERUSER_FIELDS = ("is_active", "is_superuser")


async def _in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await run_in_threadpool(fn, *args, **kwargs)


def email_taken() -> DomainError:
    return DomainError(Problem.EMAIL_TAKEN)


def forbidden(field: str | None = None) -> DomainError:
    return DomainError(Problem.FORBIDDEN, field)


def not_found() -> DomainError:
    return DomainError(Problem.NO_SUCH_USER)


class _UserGoneError(Exception):
    """The user a change applies to was deleted after the request's token was checked."""


def _gone(*, acting_on_self: bool) -> DomainError:
    # To its owner, the answer its next request gets: the token's user is gone.
    return token_rejected() if acting_on_self else not_found()


def email_not_verified() -> DomainError:
    return DomainError(Problem.EMAIL_NOT_VERIFIED)


async def register(
    *,
    db: Session,
    hasher: PasswordHasher,
    settings: Settings,
    mail: AccountMail,
    requester: Requester,
    data: UserCreate,
) -> User:
    hashed = await hasher.hash(data.password)
    user = User(email=data.email, hashed_password=hashed, full_name=data.full_name)
    token = await _in_thread(_insert, db, user, verify_ttl=_verify_ttl_if_required(settings))
    if token is not None:
        mail.verification(to=user.email, token=token, requester=requester)
    return user


def _verify_ttl_if_required(settings: Settings) -> timedelta | None:
    """How long an unasked verification link lives, when the service sends one:
    only when it will not let unverified users log in."""
    if not settings.require_verified_email:
        return None
    return timedelta(minutes=settings.verify_token_expire_minutes)


def _insert(db: Session, user: User, *, verify_ttl: timedelta | None) -> str | None:
    db.add(user)
    token = None
    try:
        if verify_ttl is not None:
            db.flush()
            token = account_tokens.issue(
                db, user=user, purpose=Purpose.VERIFY_EMAIL, ttl=verify_ttl
            )
        db.commit()
    except IntegrityError as exc:
        # The unique index decides between simultaneous sign-ups: one wins.
        db.rollback()
        raise email_taken() from exc
    return token


async def authenticate(
    *,
    db: Session,
    hasher: PasswordHasher,
    throttle: Throttle,
    settings: Settings,
    mail: AccountMail,
    requester: Requester,
    email: str,
    password: str,
    address: str,
) -> User | None:
    """The active user with these credentials, or None, in the same time either way.

    429 before any work when this account or address has failed too often.
    With REQUIRE_VERIFIED_EMAIL, right credentials of an unverified address
    give 401 email_not_verified, and a new link is mailed (throttled).
    """
    # As sign-up stored it, so the very string someone signed up with logs them in.
    email = lookup_form(email)
    user, attempt = await _in_thread(_find_unless_throttled, db, throttle, email, address)
    matches, new_hash = await hasher.verify(password, user.hashed_password if user else None)
    if user is None or not matches or not user.is_active:
        await _in_thread(throttle.login_failed, attempt)
        return None
    verify_ttl = None if user.is_verified else _verify_ttl_if_required(settings)
    token = await _in_thread(
        _login_succeeded, db, throttle, user, attempt, new_hash=new_hash, verify_ttl=verify_ttl
    )
    if verify_ttl is not None:
        if token is not None:
            mail.verification(to=user.email, token=token, requester=requester)
        raise email_not_verified()
    return user


def _find_unless_throttled(
    db: Session, throttle: Throttle, email: str, address: str
) -> tuple[User | None, LoginAttempt]:
    # The guess is counted before the password is checked: guesses that
    # arrive together cannot all slip in while the hashes run.
    attempt = throttle.start_login(email, address)
    user = db.scalar(select(User).where(User.email == email))
    # Release the connection before the slow part, the hash check.
    db.commit()
    return user, attempt


def _login_succeeded(
    db: Session,
    throttle: Throttle,
    user: User,
    attempt: LoginAttempt,
    *,
    new_hash: str | None,
    verify_ttl: timedelta | None,
) -> str | None:
    """Give the failure slots back and keep a hash upgrade; with `verify_ttl`,
    the user may not log in yet, and gets a new verification token unless throttled."""
    throttle.login_succeeded(attempt)
    if new_hash is not None:
        # The stored hash predates the current cost: upgrade it while we have
        # the password, unless the password changed while it was checked.
        db.execute(
            update(User)
            .where(User.id == user.id, User.hashed_password == user.hashed_password)
            .values(hashed_password=new_hash)
            .execution_options(synchronize_session=False)
        )
    token = None
    try:
        if verify_ttl is not None and throttle.may_send_verification(user.id):
            token = account_tokens.issue(
                db, user=user, purpose=Purpose.VERIFY_EMAIL, ttl=verify_ttl
            )
        db.commit()
    except IntegrityError:
        # Deleted while its password was checked: no link for a gone account.
        db.rollback()
        return None
    return token


def get_user(db: Session, user_id: int) -> User | None:
    """The user as it is now; the connection goes back to the pool at once."""
    if not 1 <= user_id <= MAX_ID:
        return None
    user = db.get(User, user_id)
    db.commit()
    return user


def list_users(db: Session, *, skip: int, limit: int) -> list[User]:
    return list(db.scalars(select(User).order_by(User.id).offset(skip).limit(limit)))


def delete_user(db: Session, *, user_id: int) -> None:
    superusers.keep_one_active(db, losing=user_id)
    # The database cascades to the user's sessions.
    db.execute(delete(User).where(User.id == user_id))
    db.commit()


async def update_user(
    *,
    db: Session,
    hasher: PasswordHasher,
    store: LoginStore,
    settings: Settings,
    mail: AccountMail,
    requester: Requester,
    actor: UserPublic,
    actor_login: str,
    target_id: int,
    changes: UserUpdate,
) -> User:
    """Apply the fields present in `changes`, under the contract's rules, and
    tell the account's (previous) address of a new password or address."""
    fields = changes.model_dump(exclude_unset=True, exclude={"current_password"})
    if not actor.is_superuser:
        for name in _SUPERUSER_FIELDS:
            if name in fields:
                raise forbidden(name)
    acting_on_self = actor.id == target_id
    try:
        target = await _load(db, target_id)
        if fields.get("email") == target.email:
            del fields["email"]
        if acting_on_self and _REAUTH_FIELDS & fields.keys():
            await _check_current_password(hasher, target, changes.current_password)
        new_hash = None
        if "password" in fields:
            new_password = fields.pop("password")
            check_similarity(new_password, fields.get("email", target.email), settings, "password")
            new_hash = await hasher.hash(new_password)
        old_email = target.email
        verify_ttl = _verify_ttl_if_required(settings) if "email" in fields else None
        user, token = await _in_thread(
            _apply,
            db,
            store,
            target,
            fields,
            new_hash,
            keep_login=actor_login if acting_on_self else None,
            verify_ttl=verify_ttl,
        )
    except _UserGoneError:
        raise _gone(acting_on_self=acting_on_self) from None
    by_admin = not acting_on_self
    if new_hash is not None:
        mail.password_changed(to=old_email, requester=requester, by_admin=by_admin)
    if "email" in fields:
        mail.email_changed(old=old_email, new=user.email, requester=requester, by_admin=by_admin)
    if token is not None:
        mail.verification(to=user.email, token=token, requester=requester)
    return user


async def change_password(
    *,
    db: Session,
    hasher: PasswordHasher,
    store: LoginStore,
    settings: Settings,
    mail: AccountMail,
    requester: Requester,
    user_id: int,
    login_id: str,
    current_password: str,
    new_password: str,
) -> None:
    try:
        user = await _load(db, user_id)
        await _check_current_password(hasher, user, current_password)
        check_similarity(new_password, user.email, settings, "new_password")
        new_hash = await hasher.hash(new_password)
        await _in_thread(
            _apply, db, store, user, {}, new_hash, keep_login=login_id, verify_ttl=None
        )
    except _UserGoneError:
        raise _gone(acting_on_self=True) from None
    mail.password_changed(to=user.email, requester=requester, by_admin=False)


def sign_out_everywhere(db: Session, *, store: LoginStore, user_id: int) -> None:
    store.end_credentials(db, user_id=user_id)
    db.commit()


async def _load(db: Session, user_id: int) -> User:
    """The user a change applies to, read afresh: the request's principal is a
    snapshot, and the user may have been deleted since."""
    user = await _in_thread(get_user, db, user_id)
    if user is None:
        raise _UserGoneError
    return user


async def _check_current_password(
    hasher: PasswordHasher, user: User, current_password: str | None
) -> None:
    if current_password is None:
        raise DomainError(Problem.CURRENT_PASSWORD_REQUIRED)
    matches, _ = await hasher.verify(current_password, user.hashed_password)
    if not matches:
        raise DomainError(Problem.CURRENT_PASSWORD_WRONG)


def check_similarity(password: str, email: str, settings: Settings, field: str) -> None:
    # The schema has checked every rule it could; only the account's email was unknown to it.
    problems = password_problems(password, min_length=settings.password_min_length, email=email)
    if problems:
        raise DomainError(Problem.WEAK_PASSWORD, field, messages=problems)


def _apply(
    db: Session,
    store: LoginStore,
    user: User,
    fields: dict[str, Any],
    new_hash: str | None,
    *,
    keep_login: str | None,
    verify_ttl: timedelta | None,
) -> tuple[User, str | None]:
    """One transaction: the new values, the sessions they end, and with
    `verify_ttl` a verification token for the new address."""
    token = None
    try:
        removed = [name for name in _SUPERUSER_FIELDS if fields.get(name) is False]
        if removed:
            superusers.keep_one_active(db, losing=user.id, field=removed[0])
        deactivating = fields.get("is_active") is False and user.is_active
        for name, value in fields.items():
            setattr(user, name, value)
        if "email" in fields:
            # A new address is unproven, and links sent to the old one must die.
            user.is_verified = False
            account_tokens.discard(db, user_id=user.id)
        if new_hash is not None or deactivating:
            store.end_credentials(db, user_id=user.id, keep=None if deactivating else keep_login)
        if new_hash is not None:
            user.hashed_password = new_hash
        db.flush()
        if verify_ttl is not None or new_hash is not None or deactivating:
            # What the database set (the credential version, updated_at), read
            # in the transaction: after it, the row may already be deleted.
            db.refresh(user)
        if verify_ttl is not None:
            token = account_tokens.issue(
                db, user=user, purpose=Purpose.VERIFY_EMAIL, ttl=verify_ttl
            )
        db.commit()
    except StaleDataError:
        # The row was deleted under this change: the UPDATE matched nothing.
        db.rollback()
        raise _UserGoneError from None
    except IntegrityError as exc:
        db.rollback()
        raise email_taken() from exc
    return user, token
