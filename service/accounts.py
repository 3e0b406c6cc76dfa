"""Account rules between the routes and the database: sign up, read, change,
delete. Each method is a coroutine that takes its own blocking work off the
event loop: hashing on the hasher's threads, database work on the threadpool.
A new address of one's own waits for its mailbox (email_change.py).
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from service import account_tokens, email_change, scopes, superusers
from service.audit_events import EventKind
from service.email_change import Asked
from service.logins import Principal, token_rejected
from service.models import MAX_ID, User
from service.parts import Service
from service.problems import DomainError, Problem
from service.requester import Requester
from service.schemas import UserCreate, UserUpdate
from service.threads import in_thread

# Fields a user may change on itself that need its current password.
_REAUTH_FIELDS = frozenset({"email", "password"})
_SUPERUSER_FIELDS = ("is_active", "is_superuser")


class _UserGoneError(Exception):
    """The user a change applies to was deleted after the request's token was checked."""


def _gone(*, acting_on_self: bool) -> DomainError:
    # To its owner, the answer its next request gets: the token's user is gone.
    return token_rejected() if acting_on_self else DomainError(Problem.NO_SUCH_USER)


@dataclass(frozen=True)
class _Links:
    """What a change's transaction made to be mailed."""

    verification: str | None = None
    email_change: Asked | None = None


class Accounts(Service):
    async def sign_up(self, data: UserCreate, *, requester: Requester) -> User:
        # Counted before the hash, so a flood of sign-ups cannot spend the CPU.
        await in_thread(self.throttle.spend_signup, requester)
        hashed = await self.hasher.hash(data.password)
        user = User(email=data.email, hashed_password=hashed, full_name=data.full_name)
        link = await in_thread(self._insert, user)
        self.audit.record(EventKind.USER_CREATED, user_id=user.id, requester=requester)
        if link is not None:
            self.mail.verification(to=user.email, token=link, requester=requester)
        return user

    async def get(self, user_id: int) -> User | None:
        """The user as it is now."""
        return await in_thread(self._get, user_id)

    async def page(self, *, skip: int, limit: int) -> list[User]:
        """Users in id order, `limit` of them after the first `skip`."""
        return await in_thread(self._page, skip, limit)

    async def delete(self, *, actor: Principal, user_id: int, requester: Requester) -> None:
        await in_thread(self._delete, user_id)
        self.record_by(EventKind.USER_DELETED, actor=actor, user_id=user_id, requester=requester)

    async def update(
        self, *, actor: Principal, target_id: int, changes: UserUpdate, requester: Requester
    ) -> User:
        """Apply the fields present in `changes`, under the contract's rules, and
        tell the account's (previous) address of a new password or address.
        A new address of one's own is only asked for: it waits for the link
        mailed to it. A superuser sets another user's address at once."""
        fields = changes.model_dump(exclude_unset=True, exclude={"current_password"})
        flags = [name for name in _SUPERUSER_FIELDS if name in fields]
        if flags and not actor.user.is_superuser:
            raise DomainError(Problem.FORBIDDEN, flags[0])
        if flags and scopes.USERS_WRITE not in actor.scopes:
            # An admin's own account too: the flags are an admin's power, not the profile's.
            raise DomainError(Problem.INSUFFICIENT_SCOPE, scope=scopes.USERS_WRITE)
        acting_on_self = actor.user.id == target_id
        try:
            target = await self._load(target_id, as_of=actor if acting_on_self else None)
            email_change.same_email_calls_off(fields, target)
            if acting_on_self and _REAUTH_FIELDS & fields.keys():
                await self._check_current_password(target, changes.current_password)
            new_hash = await self._new_hash(fields, target)
            asked = fields.pop("email", None) if acting_on_self else None
            if asked is not None:
                await in_thread(self.throttle.spend_email_change, target.id, requester)
            old_email = target.email
            deactivated = fields.get("is_active") is False and target.is_active
            keep = actor.login_id if acting_on_self else None
            user, links = await in_thread(
                self._apply, target, fields, new_hash, keep_login=keep, asked_email=asked
            )
        except _UserGoneError:
            raise _gone(acting_on_self=acting_on_self) from None
        self._record_update(actor, user.id, fields, new_hash, requester, deactivated=deactivated)
        self._tell(old_email, user, new_hash, fields, links, requester, by_admin=not acting_on_self)
        return user

    async def change_password(
        self, *, actor: Principal, current_password: str, new_password: str, requester: Requester
    ) -> None:
        try:
            user = await self._load(actor.user.id, as_of=actor)
            await self._check_current_password(user, current_password)
            self.require_strong(new_password, email=user.email, field="new_password")
            new_hash = await self.hasher.hash(new_password)
            await in_thread(self._apply, user, {}, new_hash, keep_login=actor.login_id)
        except _UserGoneError:
            raise _gone(acting_on_self=True) from None
        self.record_by(
            EventKind.PASSWORD_CHANGED, actor=actor, user_id=user.id, requester=requester
        )
        self.mail.password_changed(to=user.email, requester=requester, by_admin=False)

    # The steps of a change

    async def _load(self, user_id: int, *, as_of: Principal | None) -> User:
        """The user a change applies to, read afresh: the request's principal is a
        snapshot, and the user may have been deleted since. Acting on oneself
        (`as_of`), credentials ended since the token was checked (a password
        change in flight) answer as the next request would: 401."""
        user = await self.get(user_id)
        if user is None:
            raise _UserGoneError
        if as_of is not None and user.credential_version != as_of.credential_version:
            raise token_rejected()
        return user

    async def _check_current_password(self, user: User, current_password: str | None) -> None:
        if current_password is None:
            raise DomainError(Problem.CURRENT_PASSWORD_REQUIRED)
        matches, _ = await self.hasher.verify(current_password, user.hashed_password)
        if not matches:
            raise DomainError(Problem.CURRENT_PASSWORD_WRONG)

    async def _new_hash(self, fields: dict[str, Any], target: User) -> str | None:
        """The hash of a new password in `fields` (taken out of them), judged
        against the address the account will have."""
        if "password" not in fields:
            return None
        new_password = fields.pop("password")
        self.require_strong(new_password, email=fields.get("email", target.email), field="password")
        return await self.hasher.hash(new_password)

    def _record_update(
        self,
        actor: Principal,
        user_id: int,
        fields: dict[str, Any],
        new_hash: str | None,
        requester: Requester,
        *,
        deactivated: bool,
    ) -> None:
        """One event per kind of change: a deactivation and a new password
        have their own; any other field present is user_updated."""
        others = fields.keys() - {"is_active"} if deactivated else fields.keys()
        changes = [
            (bool(others), EventKind.USER_UPDATED),
            (new_hash is not None, EventKind.PASSWORD_CHANGED),
            (deactivated, EventKind.USER_DEACTIVATED),
        ]
        for happened, kind in changes:
            if happened:
                self.record_by(kind, actor=actor, user_id=user_id, requester=requester)

    def _tell(
        self,
        old_email: str,
        user: User,
        new_hash: str | None,
        fields: dict[str, Any],
        links: _Links,
        requester: Requester,
        *,
        by_admin: bool,
    ) -> None:
        if new_hash is not None:
            self.mail.password_changed(to=old_email, requester=requester, by_admin=by_admin)
        if "email" in fields:
            self.mail.email_changed(
                old=old_email, new=user.email, requester=requester, by_admin=by_admin
            )
        if links.verification is not None:
            self.mail.verification(to=user.email, token=links.verification, requester=requester)
        asked = links.email_change
        if asked is not None:
            self.audit.record(
                EventKind.EMAIL_CHANGE_REQUESTED, user_id=user.id, requester=requester
            )
            self.mail.email_change(
                old=user.email, new=asked.new_email, token=asked.token, requester=requester
            )
            self.mail.email_change_requested(
                old=user.email, new=asked.new_email, requester=requester
            )

    # On the threadpool

    def _get(self, user_id: int) -> User | None:
        if not 1 <= user_id <= MAX_ID:
            return None
        with self.database.sessions() as db:
            return db.get(User, user_id)

    def _page(self, skip: int, limit: int) -> list[User]:
        with self.database.sessions() as db:
            return list(db.scalars(select(User).order_by(User.id).offset(skip).limit(limit)))

    def _delete(self, user_id: int) -> None:
        with self.database.sessions() as db, db.begin():
            superusers.keep_one_active(db, losing=user_id)
            # The database cascades to the user's logins and tokens.
            db.execute(delete(User).where(User.id == user_id))

    def _verification_link_if_required(self, db: Session, user: User) -> str | None:
        """A link for an address the user has not proven, when the service will
        not let unverified users log in (and so must send one unasked)."""
        if not self.settings.require_verified_email:
            return None
        return account_tokens.issue_verification(db, user=user, settings=self.settings)

    def _insert(self, user: User) -> str | None:
        try:
            with self.database.sessions() as db, db.begin():
                db.add(user)
                db.flush()
                return self._verification_link_if_required(db, user)
        except IntegrityError as exc:
            # The unique index decides between simultaneous sign-ups: one wins.
            raise DomainError(Problem.EMAIL_TAKEN) from exc

    def _apply(
        self,
        user: User,
        fields: dict[str, Any],
        new_hash: str | None,
        *,
        keep_login: str | None,
        asked_email: str | None = None,
    ) -> tuple[User, _Links]:
        """One transaction: the new values, the logins they end, for a new
        address, when required, a verification link, and for an address asked
        for, the link that confirms it (after the rest: bound to the
        credentials this change leaves)."""
        # Read now: after a failed flush the object's attributes are expired.
        user_id = user.id
        try:
            with self.database.sessions() as db, db.begin():
                db.add(user)
                verification = self._change(db, user, fields, new_hash, keep_login=keep_login)
                asked = None
                if asked_email is not None:
                    asked = email_change.ask(db, user, asked_email, settings=self.settings)
                return user, _Links(verification=verification, email_change=asked)
        except StaleDataError:
            # The row was deleted under this change: the UPDATE matched nothing.
            raise _UserGoneError from None
        except IntegrityError as exc:
            # Either the address is another account's now, or the user was
            # deleted under the change (a link of a gone user breaks its key).
            if self._get(user_id) is None:
                raise _UserGoneError from None
            raise DomainError(Problem.EMAIL_TAKEN) from exc

    def _change(
        self,
        db: Session,
        user: User,
        fields: dict[str, Any],
        new_hash: str | None,
        *,
        keep_login: str | None,
    ) -> str | None:
        removed = [name for name in _SUPERUSER_FIELDS if fields.get(name) is False]
        if removed:
            superusers.keep_one_active(db, losing=user.id, field=removed[0])
        deactivating = fields.get("is_active") is False and user.is_active
        # A login keeps the scopes granted at its start: with another role,
        # every one must start again, the caller's own too.
        new_role = "is_superuser" in fields and fields["is_superuser"] != user.is_superuser
        for name, value in fields.items():
            setattr(user, name, value)
        if "pending_email" in fields:
            email_change.call_off(db, user_id=user.id)
        if "email" in fields:
            # A new address is unproven, links sent to the old one must die,
            # and so must a change its owner asked for: this one overrides it.
            user.is_verified = False
            user.pending_email = None
            account_tokens.discard(db, user_id=user.id)
        ending_all = deactivating or new_role
        if new_hash is not None or ending_all:
            self.logins.end_credentials(
                db, user_id=user.id, keep=None if ending_all else keep_login
            )
        if new_hash is not None:
            user.hashed_password = new_hash
        db.flush()
        if "email" in fields or new_hash is not None or ending_all:
            # What the database set (the credential version), read in the
            # transaction: after it, the row may already be deleted.
            db.refresh(user)
        return self._verification_link_if_required(db, user) if "email" in fields else None
