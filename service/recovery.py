"""Account recovery and email verification: the flows behind
`/password/forgot`, `/password/reset`, `/users/me/verify` and `/verify`.

Tokens are account_tokens.py's; messages are messages.py's. Database work
runs on the threadpool and hashing on the hasher's threads, as elsewhere.
"""

import logging
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from service import account_tokens
from service.account_mail import AccountMail, Requester
from service.account_tokens import Purpose
from service.accounts import check_similarity
from service.config import Settings
from service.database import Database
from service.logins import LoginStore
from service.models import User
from service.problems import DomainError, Problem
from service.schemas import UserPublic
from service.security import PasswordHasher
from service.throttling import Throttle

logger = logging.getLogger("service.recovery")
_USERS = User.__table__


def invalid_token() -> DomainError:
    return DomainError(Problem.ACCOUNT_TOKEN_INVALID)


class Recovery:
    def __init__(
        self,
        *,
        database: Database,
        hasher: PasswordHasher,
        store: LoginStore,
        mail: AccountMail,
        throttle: Throttle,
        settings: Settings,
    ) -> None:
        self.database = database
        self.hasher = hasher
        self.store = store
        self.mail = mail
        self.throttle = throttle
        self.settings = settings
        self.reset_ttl = timedelta(minutes=settings.reset_token_expire_minutes)
        self.verify_ttl = timedelta(minutes=settings.verify_token_expire_minutes)

    # Asking for a message

    def send_password_reset(self, *, email: str, requester: Requester) -> None:
        """Mail a reset link if `email` is an active account's; otherwise nothing.

        Runs after the answer has gone (a background task), so neither its
        time nor its failure can tell the client whether the account exists.
        """
        try:
            with self.database.sessions() as db:
                user = db.scalar(select(User).where(User.email == email))
                if user is None or not user.is_active:
                    return
                token = account_tokens.issue(
                    db, user=user, purpose=Purpose.PASSWORD_RESET, ttl=self.reset_ttl
                )
                db.commit()
                to = user.email
        except Exception as exc:  # nobody is waiting for this answer: log it, raise nothing
            logger.warning("password reset not sent: %s", type(exc).__name__)
            return
        self.mail.password_reset(to=to, token=token, requester=requester)

    def send_verification(self, *, user_id: int, requester: Requester) -> None:
        """Mail a verification link to the user's current address."""
        with self.database.sessions() as db:
            user = db.get(User, user_id)
            if user is None or not user.is_active:
                return
            try:
                token = account_tokens.issue(
                    db, user=user, purpose=Purpose.VERIFY_EMAIL, ttl=self.verify_ttl
                )
                db.commit()
            except IntegrityError:
                # Deleted since it was read: there is nobody to mail.
                db.rollback()
                return
            to = user.email
        self.mail.verification(to=to, token=token, requester=requester)

    # Redeeming a token

    async def reset_password(
        self, *, token: str, new_password: str, requester: Requester, address: str
    ) -> None:
        """Set a new password with a reset token; every session ends."""
        pending = await run_in_threadpool(self._peek, token, Purpose.PASSWORD_RESET)
        if pending is None:
            raise invalid_token()
        # Judged before the (costly) hash, against the account's own address.
        check_similarity(new_password, pending.email, self.settings, "new_password")
        new_hash = await self.hasher.hash(new_password)
        email = await run_in_threadpool(self._apply_reset, token, new_hash)
        await run_in_threadpool(self.throttle.clear_login_failures, email, address)
        self.mail.password_was_reset(to=email, requester=requester)

    def verify_email(self, *, token: str) -> UserPublic:
        """Mark the token's address as verified, if it is still the account's."""
        with self.database.sessions() as db:
            redeemed = account_tokens.spend(db, token=token, purpose=Purpose.VERIFY_EMAIL)
            if redeemed is None:
                raise invalid_token()
            row = db.execute(
                update(_USERS)
                .where(account_tokens.still_bound(redeemed))
                .values(is_verified=True)
                .returning(*(_USERS.c[name] for name in UserPublic.model_fields))
            ).one_or_none()
            if row is None:
                db.rollback()
                raise invalid_token()
            db.commit()
        return UserPublic.model_validate(row)

    def _peek(self, token: str, purpose: Purpose) -> account_tokens.Redeemed | None:
        with self.database.sessions() as db:
            return account_tokens.peek(db, token=token, purpose=purpose)

    def _apply_reset(self, token: str, new_hash: str) -> str:
        """One transaction: spend the token, set the password, end every session."""
        with self.database.sessions() as db:
            redeemed = account_tokens.spend(db, token=token, purpose=Purpose.PASSWORD_RESET)
            if redeemed is None:
                # Spent by a simultaneous request since the peek.
                raise invalid_token()
            changed = db.execute(
                update(_USERS)
                .where(account_tokens.still_bound(redeemed))
                .values(
                    hashed_password=new_hash,
                    # The link reached this address: its owner holds it.
                    is_verified=True,
                )
            ).rowcount
            if changed != 1:
                db.rollback()
                raise invalid_token()
            self.store.end_credentials(db, user_id=redeemed.user_id)
            account_tokens.discard(db, user_id=redeemed.user_id, purpose=Purpose.PASSWORD_RESET)
            db.commit()
        return redeemed.email
