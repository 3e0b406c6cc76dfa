"""Who is asking: what the services know of the client behind a request."""

from dataclasses import dataclass
from datetime import datetime

from service.models import utcnow


@dataclass(frozen=True)
class Requester:
    """The client's IP (as the trusted proxies in front name it), its user
    agent as sent, and when it asked. Throttling counts by the IP; the mails
    tell the account's owner of both."""

    ip: str | None
    user_agent: str | None
    at: datetime

    @classmethod
    def now(cls, *, ip: str | None, user_agent: str | None) -> "Requester":
        return cls(ip=ip, user_agent=user_agent, at=utcnow())
