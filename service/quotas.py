"""What the throttle counted for one request, as plain values: the domain's
side of the RateLimit headers, which only the HTTP layer writes."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Quota:
    """One advertised limit as the client's own counter stands after this request."""

    policy: str
    limit: int
    window_seconds: int
    remaining: int
    reset_seconds: int


class QuotaReport:
    """The quotas one request was counted against, one per policy, in the
    order they were first counted. Made afresh for every request (it travels
    with the Requester), so nothing of one request reaches another's answer."""

    def __init__(self) -> None:
        self._by_policy: dict[str, Quota] = {}

    def record(self, quota: Quota) -> None:
        # A later count of the same policy (a slot given back) is the truer one.
        self._by_policy[quota.policy] = quota

    @property
    def quotas(self) -> tuple[Quota, ...]:
        return tuple(self._by_policy.values())
