"""ASGI middleware: request ids and settings, the body size limit, the last-resort
500, security headers, and CORS answered in the error envelope."""

import logging
import re
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import links
from service.config import Settings, serve_with, stop_serving
from service.errors import entries_of, problem_response
from service.logging_setup import current_request_id
from service.problems import DomainError, Problem

logger = logging.getLogger("service.requests")

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


class RequestContextMiddleware:
    """Gives every request an id and this app's settings, and turns any
    unhandled exception into a 500 envelope.

    Sits outside the routing, so the id is on every response, the 500 included,
    and a traceback reaches only the log, tagged with the id.
    """

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        tagged = current_request_id.set(request_id)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        serving = serve_with(self.settings)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception(
                "unhandled error request_id=%s %s %s",
                request_id,
                scope.get("method"),
                scope.get("path"),
            )
            if started:
                raise
            response = problem_response(DomainError(Problem.INTERNAL_ERROR))
            await response(scope, receive, send_with_id)
        finally:
            stop_serving(serving)
            current_request_id.reset(tagged)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _SAFE_REQUEST_ID.fullmatch(candidate) else None
    return None


class BodySizeLimitMiddleware:
    """413 for bodies over `max_bytes`, declared or streamed, before they are read whole."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._declared_length(scope) > self.max_bytes:
            await self._too_large()(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises an HTTPException met while reading the
                    # body, so it reaches the envelope handler.
                    raise HTTPException(413, self._too_large_message())
            return message

        await self.app(scope, counting_receive, send)

    @staticmethod
    def _declared_length(scope: Scope) -> int:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0
        return 0

    def _too_large(self) -> Response:
        return problem_response(DomainError(Problem.REQUEST_TOO_LARGE, max_bytes=self.max_bytes))

    def _too_large_message(self) -> str:
        (item,) = entries_of(DomainError(Problem.REQUEST_TOO_LARGE, max_bytes=self.max_bytes))
        return str(item["message"])


# The OpenAPI document may be kept, if asked for again (a deploy changes it).
# The documentation pages send their own CSP and Cache-Control (routes/docs.py):
# one that forgot would get the API's, and load nothing.
_DOCUMENTATION_PATHS = frozenset({"/openapi.json"})
_API_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cache-control", b"no-store"),
]
# The service's own pages (routes/pages.py) load their stylesheet and post their forms here.
_PAGE_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'self'; form-action 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"cache-control", b"no-store"),
]
_DOCUMENTATION_HEADERS = [_API_HEADERS[0], (b"cache-control", b"no-cache")]
_EVERY_RESPONSE_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
_HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


class SecurityHeadersMiddleware:
    """Headers for an API that answers with tokens and personal data.

    No sniffing or framing anywhere; API answers are never cached (a route may
    say otherwise) and may load nothing. In production, browsers are told to
    use HTTPS only: the platform's router terminates TLS in front of us.
    """

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(_EVERY_RESPONSE_HEADERS)
        path = scope.get("path")
        if path in links.PAGE_PATHS:
            extra += _PAGE_HEADERS
        elif path in _DOCUMENTATION_PATHS:
            extra += _DOCUMENTATION_HEADERS
        else:
            extra += _API_HEADERS
        if self.hsts:
            extra.append(_HSTS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class EnvelopeCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered in the error envelope,
    and no CORS header at all for an origin not listed (Starlette would still
    say credentials are allowed)."""

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        origin = request_headers.get("origin")
        if origin is None or self.is_allowed_origin(origin=origin):
            await super().send(message, send, request_headers)
            return

        async def without_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name in ("access-control-allow-credentials", "access-control-expose-headers"):
                    if name in headers:
                        del headers[name]
            await send(message)

        await super().send(message, without_cors, request_headers)

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        headers = {
            name: value
            for name, value in response.headers.items()
            if name not in ("content-length", "content-type")
        }
        words = response.body.decode()
        refused = problem_response(
            DomainError(Problem.CORS_REJECTED, messages=[words] if words else ())
        )
        refused.headers.update(headers)
        return refused
