"""The RateLimit-Policy and RateLimit headers (draft-ietf-httpapi-ratelimit-headers-09):
each request gets a QuotaReport, the throttle notes into it what it counted,
and this middleware writes what it holds on the answer, 2xx or 4xx alike.

Both fields are Structured Field Lists (RFC 9651) of policies, e.g.
`RateLimit-Policy: "login";q=100;w=3600` and `RateLimit: "login";r=99;t=3600`.
"""

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.quotas import Quota, QuotaReport

# Where in the request's state the report lives, between the middleware that
# makes it and the dependency that hands it to the services with the Requester.
_STATE_KEY = "quotas"


def quota_report(request: Request) -> QuotaReport:
    """This request's report (a fresh one where the middleware is not in front)."""
    report = getattr(request.state, _STATE_KEY, None)
    return report if isinstance(report, QuotaReport) else QuotaReport()


def policy_field(quotas: tuple[Quota, ...]) -> str:
    # Policy names are our own fixed tokens: nothing here needs escaping.
    return ", ".join(f'"{q.policy}";q={q.limit};w={q.window_seconds}' for q in quotas)


def ratelimit_field(quotas: tuple[Quota, ...]) -> str:
    return ", ".join(f'"{q.policy}";r={q.remaining};t={q.reset_seconds}' for q in quotas)


class RateLimitHeadersMiddleware:
    """Gives every request a QuotaReport and writes what the throttle put in
    it on the answer; a request that met no throttle gets neither header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        report = QuotaReport()
        scope.setdefault("state", {})[_STATE_KEY] = report

        async def send_with_quotas(message: Message) -> None:
            if message["type"] == "http.response.start":
                quotas = report.quotas
                if quotas:
                    message["headers"] = [
                        *message.get("headers", []),
                        (b"ratelimit-policy", policy_field(quotas).encode()),
                        (b"ratelimit", ratelimit_field(quotas).encode()),
                    ]
            await send(message)

        await self.app(scope, receive, send_with_quotas)
