"""A small HTTP client for set-up calls and the paced /health probe (127.0.0.1 only)."""

import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlencode

from core import HOST, HarnessError

JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Client:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self._connection = http.client.HTTPConnection(HOST, port, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        try:
            self._connection.request(method, path, body=body, headers=headers or {})
            response = self._connection.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            # Next request reconnects; a half-read response must not be reused.
            self._connection.close()
            raise OSError(f"{method} {path}: {exc}") from exc

    def close(self) -> None:
        self._connection.close()


def sign_up(port: int, email: str, password: str) -> None:
    body = json.dumps({"email": email, "password": password, "full_name": "Bench"}).encode()
    status, answer = _once(port, "POST", "/users", body, JSON)
    if status != 201:
        raise HarnessError(f"sign-up failed: {status} {answer[:300]!r}")


def log_in(port: int, email: str, password: str) -> dict[str, str]:
    body = urlencode({"username": email, "password": password}).encode()
    status, answer = _once(port, "POST", "/login", body, FORM)
    if status != 200:
        raise HarnessError(f"login failed: {status} {answer[:300]!r}")
    tokens: dict[str, str] = json.loads(answer)
    return tokens


def refresh_tokens(port: int, email: str, password: str, count: int) -> list[str]:
    """`count` separate login sessions, one refresh-token chain each."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        pairs = list(pool.map(lambda _: log_in(port, email, password), range(count)))
    return [pair["refresh_token"] for pair in pairs]


def _once(
    port: int, method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes]:
    client = Client(port)
    try:
        return client.request(method, path, body, headers)
    except OSError as exc:
        raise HarnessError(str(exc)) from exc
    finally:
        client.close()


@dataclass
class Probe:
    latencies_ms: list[float]
    failures: int
    late: int  # requests sent behind schedule because the previous one was slow


def probe(port: int, path: str, *, rate: float, seconds: float) -> Probe:
    """GET `path` at a fixed pace on one keep-alive connection; time every request.

    Paced rather than flat out, so the figure is the latency a health checker
    sees, not the throughput the probe itself could squeeze through.
    """
    client = Client(port, timeout=10.0)
    interval = 1.0 / rate
    result = Probe(latencies_ms=[], failures=0, late=0)
    try:
        _open(client, path)
        next_at = time.monotonic()
        for _ in range(max(1, round(rate * seconds))):
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                result.late += 1
                next_at = time.monotonic()  # no catch-up burst after a stall
            _probe_once(client, path, result)
            next_at += interval
    finally:
        client.close()
    return result


def _open(client: Client, path: str) -> None:
    """The first request opens the connection, outside the measurement."""
    try:
        client.request("GET", path)
    except OSError as exc:
        raise HarnessError(f"the probe could not reach the server: {exc}") from exc


def _probe_once(client: Client, path: str, result: Probe) -> None:
    started = time.perf_counter()
    try:
        status, _ = client.request("GET", path)
    except OSError:
        result.failures += 1
        return
    if status != 200:
        result.failures += 1
        return
    result.latencies_ms.append((time.perf_counter() - started) * 1000)
