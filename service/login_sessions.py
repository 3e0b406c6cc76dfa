"""Sessions a person can see and end: the API's name for logins.

A session ended here is revoked like a logout: its refresh token is refused,
and its access tokens too at their next use (the one-query check of
LoginStore.authenticate reads the login's revocation).
"""

import re

from service.audit_events import EventKind
from service.logins import LiveLogin, Principal
from service.parts import Service
from service.problems import DomainError, Problem
from service.requester import Requester
from service.threads import in_thread

# Login ids are 32 hex digits: anything else names none, and is not looked up
# (a NUL, say, is not even a string PostgreSQL can compare).
_LOGIN_ID = re.compile(r"[0-9a-f]{32}")


class LoginSessions(Service):
    async def live(self, *, user_id: int) -> list[LiveLogin]:
        """The user's sessions that can still be refreshed, newest first."""
        return await in_thread(self.logins.live, user_id=user_id)

    async def end(
        self, *, actor: Principal, user_id: int, email: str, session_id: str, requester: Requester
    ) -> None:
        """End one of the user's sessions; NO_SUCH_SESSION for any id that is
        not one of its live sessions, another user's included. The owner is
        told when an administrator did it."""
        device = None
        if _LOGIN_ID.fullmatch(session_id):
            device = await in_thread(self.logins.end, user_id=user_id, login_id=session_id)
        if device is None:
            raise DomainError(Problem.NO_SUCH_SESSION)
        self.record_by(
            EventKind.SESSION_ENDED,
            actor=actor,
            user_id=user_id,
            requester=requester,
            login_id=session_id,
        )
        if actor.user.id != user_id:
            self.mail.session_ended(to=email, device=device, requester=requester)

    async def end_others(
        self, *, actor: Principal, user_id: int, email: str, requester: Requester
    ) -> None:
        """End every session of the user but the caller's own."""
        keep = actor.login_id if actor.user.id == user_id else None
        ended = await in_thread(self.logins.end_all_but, user_id=user_id, keep=keep)
        if ended:
            # Every session but the caller's: the event concerns no one session.
            by_other = actor.user.id != user_id
            self.audit.record(
                EventKind.SESSION_ENDED,
                user_id=user_id,
                actor_id=actor.user.id if by_other else None,
                requester=requester,
            )
        if ended and actor.user.id != user_id:
            self.mail.session_ended(to=email, device=None, requester=requester)
