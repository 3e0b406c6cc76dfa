"""wrk: finding or installing it, running a scenario, reading its JSON line."""

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from typing import Any

from core import HOST, LUA, Children, HarnessError, log

APT_TIMEOUT_S = 600
# Past the run's own length: wrk's connection timeout, plus start and teardown.
RUN_SLACK_S = 30.0
MARKER = "BENCH_JSON "


@dataclass(frozen=True)
class Load:
    """One wrk scenario: what to send, over how many connections."""

    label: str
    path: str
    script: str  # a file in bench/lua/
    connections: int
    args: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non2xx: int  # wrk's count of answers with a status of 400 or more
    socket_errors: int  # connect + read + write + timeout
    errors: dict[str, int] = field(default_factory=dict)
    # From the scenario's own response() checks, where it has one.
    unexpected: int = 0
    unauthorized: int = 0
    dry: int = 0
    # The server's CPU time per answered request, and the PostgreSQL connections
    # it opened during the run (a pool that keeps them opens none).
    cpu_ms_per_request: float | None = None
    db_connects: int | None = None
    # Share of all cores busy during the run, whoever used them: on a shared
    # machine, a high share with little server CPU means someone else was running.
    machine_busy_share: float | None = None
    # With several workers: how the connections and the CPU time fell among them.
    per_worker: dict[str, list[float]] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ensure_wrk() -> str:
    """wrk's path; installs Debian's package when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if not apt:
        raise HarnessError("wrk is missing and apt-get is not available to install it")
    log("wrk is missing: installing it with apt-get")
    for argv in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "wrk"]):
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            argv,
            capture_output=True,
            text=True,
            timeout=APT_TIMEOUT_S,
            check=False,
            env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        )
        if done.returncode != 0:
            raise HarnessError(f"could not install wrk ({' '.join(argv)}):\n{done.stderr[-2000:]}")
    found = shutil.which("wrk")
    if not found:
        raise HarnessError("apt-get installed wrk but it is not on PATH")
    return found


class Wrk:
    def __init__(self, binary: str, children: Children, *, threads: int, timeout_s: int) -> None:
        self.binary = binary
        self.children = children
        self.threads = threads
        self.timeout_s = timeout_s

    def threads_for(self, load: Load) -> int:
        return max(1, min(self.threads, load.connections))

    def run(self, port: int, load: Load, seconds: float) -> WrkResult:
        return self.finish(self.start(port, load, seconds), seconds)

    def start(self, port: int, load: Load, seconds: float) -> subprocess.Popen[str]:
        argv = [
            self.binary,
            f"--threads={self.threads_for(load)}",
            f"--connections={load.connections}",
            f"--duration={max(1, round(seconds))}s",
            f"--timeout={self.timeout_s}s",
            "--latency",
            f"--script={LUA / load.script}",
        ]
        for header in load.headers:
            argv.append(f"--header={header}")
        argv.append(f"http://{HOST}:{port}{load.path}")
        if load.args:
            argv += ["--", *load.args]
        proc: subprocess.Popen[str] = self.children.start(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        return proc

    def finish(self, proc: subprocess.Popen[str], seconds: float) -> WrkResult:
        try:
            output, _ = proc.communicate(timeout=seconds + self.timeout_s + RUN_SLACK_S)
        except subprocess.TimeoutExpired as exc:
            self.children.stop(proc)
            raise HarnessError("wrk did not finish in time") from exc
        self.children.stop(proc)
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
        if proc.returncode != 0:
            raise HarnessError(f"wrk failed ({proc.returncode}):\n{output[-2000:]}")
        return parse(output)


def parse(output: str) -> WrkResult:
    """The JSON line our Lua done() prints; wrk's own text is there only for errors."""
    for line in output.splitlines():
        if line.startswith(MARKER):
            return _from_summary(json.loads(line.removeprefix(MARKER)))
    raise HarnessError(f"wrk printed no summary line:\n{output[-2000:]}")


def _from_summary(raw: dict[str, int]) -> WrkResult:
    seconds = raw["duration_us"] / 1e6
    errors = {name: raw[name] for name in ("connect", "read", "write", "status", "timeout")}
    return WrkResult(
        requests=raw["requests"],
        seconds=seconds,
        rps=raw["requests"] / seconds if seconds > 0 else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        non2xx=raw["status"],
        socket_errors=raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
        errors=errors,
        unexpected=raw["unexpected"],
        unauthorized=raw["unauthorized"],
        dry=raw["dry"],
    )
