"""What every service is built from, once, in create_app."""

from dataclasses import dataclass

from service.account_mail import AccountMail
from service.audit import AuditTrail
from service.audit_events import EventKind
from service.config import Settings
from service.database import Database
from service.logins import LoginStore, Principal
from service.passwords import require_strong
from service.requester import Requester
from service.security import PasswordHasher
from service.throttling import Throttle


@dataclass(frozen=True)
class Parts:
    database: Database
    hasher: PasswordHasher
    logins: LoginStore
    throttle: Throttle
    mail: AccountMail
    audit: AuditTrail
    settings: Settings


class Service:
    """A service: its methods are coroutines that take their own blocking work
    off the event loop (hashing on the hasher's threads, the rest through
    threads.in_thread)."""

    def __init__(self, parts: Parts) -> None:
        self.database = parts.database
        self.hasher = parts.hasher
        self.logins = parts.logins
        self.throttle = parts.throttle
        self.mail = parts.mail
        self.audit = parts.audit
        self.settings = parts.settings

    def record_by(
        self,
        kind: EventKind,
        *,
        actor: Principal,
        user_id: int,
        requester: Requester,
        login_id: str | None = None,
    ) -> None:
        """An event of `user_id` done by `actor`. A superuser acting on someone
        else is named as its actor, and its own login is not the user's to see."""
        by_other = actor.user.id != user_id
        if login_id is None and not by_other:
            login_id = actor.login_id
        self.audit.record(
            kind,
            user_id=user_id,
            login_id=login_id,
            actor_id=actor.user.id if by_other else None,
            requester=requester,
        )

    def require_strong(self, password: str, *, email: str, field: str) -> None:
        """WEAK_PASSWORD naming every rule `password` breaks for the account at `email`."""
        require_strong(
            password, email=email, min_length=self.settings.password_min_length, field=field
        )
