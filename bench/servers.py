"""Servers under test: starting them as in production, finding their workers, waiting for quiet."""

import os
import secrets
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client import Client
from core import HOST, RESULTS, Children, HarnessError, log

SERVICE_APP = "service.main:create_app"
BARE_APP = "bench.bare_app:create_app"
START_TIMEOUT_S = 60.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Below this share of one core the server is taken as idle: nothing in flight.
IDLE_CPU_SHARE = 0.05
SETTLE_MAX_WAIT_S = 60.0


@dataclass
class Server:
    name: str
    workers: int
    port: int
    proc: Any  # subprocess.Popen
    log_path: Path

    def pids(self) -> list[int]:
        return [self.proc.pid, *self.worker_pids()]

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: uvicorn's spawned children, or itself alone."""
        if self.workers == 1:
            return [self.proc.pid]
        return sorted(
            pid
            for pid in _children(self.proc.pid)
            # The spawn start method also runs a resource tracker child; it serves nothing.
            if b"spawn_main" in _cmdline(pid)
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def server_env(
    database_url: str, workers: int, rounds: int, algorithm: str = "HS256"
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        SECRET_KEY=secrets.token_urlsafe(36),  # 48 characters
        ENVIRONMENT="production",
        BCRYPT_ROUNDS=str(rounds),
        WEB_CONCURRENCY=str(workers),
        RATE_LIMIT_ENABLED="false",
        JWT_ALGORITHM=algorithm,
    )
    env.pop("ALGORITHM", None)
    if algorithm != "HS256":
        env["JWT_PRIVATE_KEYS"] = _private_key_pem(algorithm)
    return env


def _private_key_pem(algorithm: str) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    key = (
        ed25519.Ed25519PrivateKey.generate()
        if algorithm == "EdDSA"
        else ec.generate_private_key(ec.SECP256R1())
    )
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@contextmanager
def running_server(
    children: Children,
    *,
    name: str,
    app: str,
    ready_path: str,
    workers: int,
    env: dict[str, str],
) -> Iterator[Server]:
    """Serve `app` as production does (uvloop, httptools, `workers` processes) for the block."""
    port = free_port()
    RESULTS.mkdir(parents=True, exist_ok=True)
    log_path = RESULTS / f"server-{name}-{workers}w.log"
    argv = [
        sys.executable, "-m", "uvicorn", "--factory", app,
        "--host", HOST, "--port", str(port), "--workers", str(workers),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log",
    ]  # fmt: skip
    with log_path.open("wb") as log_file:
        proc = children.start(argv, env=env, stdout=log_file, stderr=log_file)
    server = Server(name=name, workers=workers, port=port, proc=proc, log_path=log_path)
    try:
        _wait_ready(server, ready_path)
        log(f"{name} up on port {port}, {workers} worker(s): pids {server.pids()}")
        yield server
    finally:
        children.stop(proc)
        log(f"{name} ({workers} worker(s)) stopped")


def _wait_ready(server: Server, path: str) -> None:
    """Until `path` answers 200 and every worker is up and has finished starting."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise HarnessError(f"{server.name} exited at start-up:\n{_tail(server.log_path)}")
        if _answers(server.port, path) and len(server.worker_pids()) == server.workers:
            # A worker still importing would answer nothing yet steal CPU from the first runs.
            settle(server, pause=0.0)
            return
        time.sleep(0.2)
    raise HarnessError(
        f"{server.name} did not answer {path} within {START_TIMEOUT_S:.0f} s:\n"
        f"{_tail(server.log_path)}"
    )


def _answers(port: int, path: str) -> bool:
    client = Client(port, timeout=2.0)
    try:
        status, _ = client.request("GET", path)
    except OSError:
        return False
    finally:
        client.close()
    return status == 200


def settle(server: Server, *, pause: float, window: float = 0.5) -> None:
    """Pause, then wait until the server's processes are idle.

    A client that stops does not stop the server's work: queued bcrypt hashes
    run on, and would eat into the next run if it started now.
    """
    time.sleep(pause)
    deadline = time.monotonic() + SETTLE_MAX_WAIT_S
    while time.monotonic() < deadline:
        pids = server.pids()
        before = _cpu_seconds(pids)
        time.sleep(window)
        if (_cpu_seconds(pids) - before) / window < IDLE_CPU_SHARE:
            return
    log(f"warning: {server.name} still busy after {SETTLE_MAX_WAIT_S:.0f} s of waiting")


def cpu_by_worker(server: Server) -> dict[int, float]:
    return {pid: _cpu_seconds([pid]) for pid in server.worker_pids()}


def connections_by_worker(server: Server) -> dict[int, int]:
    """Established client connections each worker holds.

    Workers share one listening socket and a keep-alive connection stays with
    whichever worker accepted it, so a lopsided split caps a run at what one
    worker can do: worth seeing next to every multi-worker figure.
    """
    inodes = _established_inodes(server.port)
    return {pid: _sockets_among(pid, inodes) for pid in server.worker_pids()}


def _established_inodes(port: int) -> set[str]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:
                found.add(inode)
    return found


def _sockets_among(pid: int, inodes: set[str]) -> int:
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return 0
    count = 0
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[len("socket:[") : -1] in inodes:
            count += 1
    return count


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # idle and iowait are the 4th and 5th; guest time is already inside user time.
    total = sum(fields[:8])
    return (total - fields[3] - fields[4]) / CLOCK_TICKS, total / CLOCK_TICKS


def rss_kib(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
