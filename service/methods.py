"""HTTP methods per path, as RFC 9110 wants them: HEAD wherever GET answers,
OPTIONS on every known path, and a 405 whose Allow lists every method of the
path, not only those of the first route that matched it.

A path belongs to the first route template that matches it, as the router
would try them, and its methods are those of every route of that template.
So `/users/me` is its own resource: PUT there is 405, not a request for a
user whose id is "me".
"""

import re
from dataclasses import dataclass

from fastapi.routing import iter_route_contexts
from starlette.responses import Response
from starlette.routing import BaseRoute, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import problem_response
from service.problems import DomainError, Problem

# The order Allow lists methods in.
_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@dataclass(frozen=True)
class _Resource:
    path_regex: re.Pattern[str]
    methods: frozenset[str]
    allow: str


class MethodsMiddleware:
    """Answers HEAD, OPTIONS and wrong methods for the routes of `router`;
    anything else, and every path no route knows (404), goes to the app.

    Inside the CORS middleware, so preflights are still CORS's to answer.
    """

    def __init__(self, app: ASGIApp, *, router: Router) -> None:
        self.app = app
        self.router = router
        # Built at the first request: routers are included after the middleware is added.
        self._resources: list[_Resource] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        resource = self._resource_of(scope)
        method = scope["method"]
        if resource is None or method in resource.methods:
            await self.app(scope, receive, send)
        elif method == "HEAD" and "GET" in resource.methods:
            await self.app({**scope, "method": "GET"}, receive, _without_body(send))
        elif method == "OPTIONS":
            await _allow_only(resource.allow)(scope, receive, send)
        else:
            await _method_not_allowed(resource.allow)(scope, receive, send)

    def _resource_of(self, scope: Scope) -> _Resource | None:
        if self._resources is None:
            self._resources = _resources(self.router.routes)
        path = scope["path"]
        root_path = scope.get("root_path", "")
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :]
        for resource in self._resources:
            if resource.path_regex.match(path):
                return resource
        return None


def _resources(routes: list[BaseRoute]) -> list[_Resource]:
    """One entry per route template, in the router's order, with the methods of all its routes."""
    regexes: dict[str, re.Pattern[str]] = {}
    methods: dict[str, set[str]] = {}
    # Included routers are flattened here as the OpenAPI document sees them.
    for route in iter_route_contexts(routes):
        route_methods = route.methods
        template = route.path
        path_regex = getattr(route, "path_regex", None)
        if route_methods is None or template is None or path_regex is None:
            # Mounts and websockets: theirs to answer; none of them are HTTP routes here.
            continue
        regexes.setdefault(template, path_regex)
        methods.setdefault(template, set()).update(route_methods)
    resources = []
    for template, declared in methods.items():
        implied = {"OPTIONS"} | ({"HEAD"} if "GET" in declared else set())
        allowed = declared | implied
        ordered = [name for name in _ORDER if name in allowed]
        ordered += sorted(allowed - set(_ORDER))
        resources.append(_Resource(regexes[template], frozenset(declared), ", ".join(ordered)))
    return resources


def _without_body(send: Send) -> Send:
    """The GET answer's status and headers (Content-Length included), without its body."""

    async def send_headers_only(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_headers_only


def _allow_only(allow: str) -> Response:
    return Response(status_code=204, headers={"Allow": allow})


def _method_not_allowed(allow: str) -> Response:
    response = problem_response(DomainError(Problem.METHOD_NOT_ALLOWED))
    response.headers["Allow"] = allow
    return response
