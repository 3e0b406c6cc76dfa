"""Who is asking: what the services know of the client behind a request."""

from dataclasses import dataclass, field
from datetime import datetime

from service.models import utcnow
from service.quotas import QuotaReport


@dataclass(frozen=True)
class Requester:
    """The client's IP (as the trusted proxies in front name it), its user
    agent as sent, and when it asked. Throttling counts by the IP and notes
    in `quotas` what it counted; the mails tell the account's owner of both."""

    ip: str | None
    user_agent: str | None
    at: datetime
    quotas: QuotaReport = field(default_factory=QuotaReport, compare=False, repr=False)

    @classmethod
    def now(
        cls, *, ip: str | None, user_agent: str | None, quotas: QuotaReport | None = None
    ) -> "Requester":
        return cls(
            ip=ip,
            user_agent=user_agent,
            at=utcnow(),
            quotas=QuotaReport() if quotas is None else quotas,
        )
