"""The client's address, as the proxies in front of the service saw it.

The only place X-Forwarded-For is read. A router appends the address it saw
to the header; entries left of what the trusted proxies appended were
written by the client and prove nothing. The address is put into
`scope["client"]` once, so the throttling and the mails see the same one.
"""

import ipaddress

from starlette.types import ASGIApp, Receive, Scope, Send

from service.networks import IPAddress, IPNetwork

# Entries past this many, from the right, are never looked at.
MAX_ENTRIES = 64


def _address(entry: str) -> IPAddress | None:
    """An entry as an address, with an optional port or brackets dropped; None if it is none."""
    text = entry.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    # A zone names an interface of the proxy, not another client.
    text = text.partition("%")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _entries(scope: Scope) -> list[str]:
    values = [value for name, value in scope.get("headers", ()) if name == b"x-forwarded-for"]
    joined = b",".join(values).decode("latin-1")
    return [entry.strip() for entry in joined.split(",")][-MAX_ENTRIES:]


class ClientAddress:
    """Resolves the client from the peer and X-Forwarded-For.

    With `hops` set, that many proxies stand in front and each appended what it
    saw, so the client is the `hops`-th entry from the right; a request with
    fewer entries did not come through them all and counts as its peer (as
    werkzeug's ProxyFix does). Without hops, the header is believed only from
    a peer in `trusted`, walking from the right past addresses in `trusted`.
    An entry that is not an address never becomes the client: the peer stays.
    """

    def __init__(self, *, hops: int, trusted: list[IPNetwork]) -> None:
        self.hops = hops
        self.trusted = trusted

    def resolve(self, peer: str | None, entries: list[str]) -> str | None:
        if self.hops:
            candidate = entries[-self.hops] if len(entries) >= self.hops else None
        else:
            candidate = self._past_trusted(peer, entries)
        address = _address(candidate) if candidate is not None else None
        return str(address) if address is not None else peer

    def _past_trusted(self, peer: str | None, entries: list[str]) -> str | None:
        if not self._is_trusted(peer):
            return None
        for entry in reversed(entries):
            if not self._is_trusted(entry):
                return entry
        return None

    def _is_trusted(self, entry: str | None) -> bool:
        address = _address(entry) if entry else None
        return address is not None and any(address in network for network in self.trusted)


class ClientAddressMiddleware:
    def __init__(self, app: ASGIApp, *, resolver: ClientAddress) -> None:
        self.app = app
        self.resolver = resolver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            host = self.resolver.resolve(peer[0] if peer else None, _entries(scope))
            if host is not None and (peer is None or host != peer[0]):
                scope["client"] = (host, 0)
        await self.app(scope, receive, send)
