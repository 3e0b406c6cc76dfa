"""The account service's performance benchmark: `python bench/run.py` from the repo root.

On a throwaway PostgreSQL database it serves the service (and a bare FastAPI
yardstick) as production does, drives them with wrk, and prints one table of
figures and ratios against the targets; bench/README.md explains each one.
It reports and never judges: the exit status is non-zero only when the
harness itself failed, not when the service missed a target.
"""

import argparse
import json
import os
import platform
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import report
from client import log_in, probe, refresh_tokens, sign_up
from core import BENCH, RESULTS, ROOT, Children, HarnessError, log
from loadgen import Load, Wrk, WrkResult, ensure_wrk
from pg import session_count, throwaway_database
from servers import (
    BARE_APP,
    SERVICE_APP,
    Server,
    connections_by_worker,
    cpu_by_worker,
    machine_cpu,
    rss_kib,
    running_server,
    server_env,
    settle,
)

USERS_ME_CONNECTIONS = (16, 64, 256)
CONNECTIONS = 16
MEMORY_CONNECTIONS = 64
# The storm starts before the probe and outlasts it, so every probe meets it at full strength.
STORM_LEAD_S = 1.0
STORM_TAIL_S = 1
MIN_RUNS = 3


@dataclass(frozen=True)
class Plan:
    smoke: bool
    rounds: int
    duration: int
    warmup: int  # seconds of the one warm-up run before each figure; 0: none
    runs: int
    pause: float
    mem_duration: int
    worker_counts: tuple[int, ...]
    probe_rate: float
    wrk_threads: int
    wrk_timeout: int
    output: Path
    algorithm: str = "HS256"  # JWT_ALGORITHM of the service under test
    settle_window: float = 0.5  # seconds over which a server must be idle to count as settled

    @property
    def memory_workers(self) -> int:
        return max(self.worker_counts)


@dataclass
class Bench:
    """One benchmark run: its plan, its processes, what it has measured so far."""

    plan: Plan
    children: Children
    wrk: Wrk
    results: dict[str, Any]
    nonce: str = field(default_factory=lambda: secrets.token_hex(3))
    # The account every authenticated scenario uses: made once per database.
    email: str = ""
    password: str = field(default_factory=lambda: "Bench-" + secrets.token_urlsafe(12))
    started: float = field(default_factory=time.monotonic)
    db_name: str = field(default_factory=lambda: f"bench_{os.getpid()}")

    def say(self, message: str) -> None:
        log(f"[{time.monotonic() - self.started:6.1f}s] {message}")

    def harness_error(self, message: str) -> None:
        self.say(f"HARNESS ERROR: {message}")
        self.results["harness_errors"].append(message)


# --- options ---------------------------------------------------------------


def parse_args(argv: list[str]) -> Plan:
    parser = argparse.ArgumentParser(
        prog="python bench/run.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=10, help="bcrypt cost (BCRYPT_ROUNDS)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of the warm-up run")
    parser.add_argument("--runs", type=int, default=MIN_RUNS, help="measured runs per figure")
    parser.add_argument("--pause", type=float, default=3.0, help="seconds of rest after a run")
    parser.add_argument(
        "--mem-duration", type=int, default=20, help="seconds of each memory read run"
    )
    parser.add_argument("--workers", default="1,2", help="worker counts to measure")
    parser.add_argument("--probe-rate", type=float, default=50.0, help="/health probes per s")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (max)")
    parser.add_argument("--wrk-timeout", type=int, default=30, help="wrk request timeout, s")
    parser.add_argument("--output", type=Path, help="JSON file (default bench/results/...)")
    parser.add_argument(
        "--algorithm",
        choices=["HS256", "EdDSA", "ES256"],
        default="HS256",
        help="JWT_ALGORITHM the service signs with (EdDSA and ES256: a key made for the run)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="seconds-long check that the harness works: 1 run of 1 s per figure, 1 worker",
    )
    options = parser.parse_args(argv)
    if options.smoke:
        return _smoke_plan(options)
    if options.runs < MIN_RUNS:
        parser.error(f"--runs must be at least {MIN_RUNS}: each figure is a median")
    if options.duration < 1 or options.mem_duration < 1 or options.warmup < 1:
        parser.error("--duration, --mem-duration and --warmup are whole seconds, at least 1")
    return Plan(
        smoke=False,
        rounds=options.rounds,
        duration=options.duration,
        warmup=options.warmup,
        runs=options.runs,
        pause=options.pause,
        mem_duration=options.mem_duration,
        worker_counts=_worker_counts(parser, options.workers),
        probe_rate=options.probe_rate,
        wrk_threads=options.wrk_threads,
        wrk_timeout=options.wrk_timeout,
        output=options.output or RESULTS / "latest.json",
        algorithm=options.algorithm,
    )


def _smoke_plan(options: argparse.Namespace) -> Plan:
    return Plan(
        smoke=True,
        rounds=options.rounds,
        duration=1,
        warmup=0,
        runs=1,
        pause=0.1,
        settle_window=0.25,
        mem_duration=1,
        worker_counts=(1,),
        probe_rate=options.probe_rate,
        wrk_threads=options.wrk_threads,
        wrk_timeout=options.wrk_timeout,
        # Its own file: a smoke run in CI must not overwrite the last real figures.
        output=options.output or RESULTS / "smoke.json",
        algorithm=options.algorithm,
    )


def _worker_counts(parser: argparse.ArgumentParser, text: str) -> tuple[int, ...]:
    try:
        counts = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        parser.error("--workers takes comma-separated numbers, e.g. 1,2")
    if not counts or min(counts) < 1:
        parser.error("--workers needs at least one count of 1 or more")
    return counts


# --- measuring -------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """One figure to measure: a server, and run i's load from `make_load(i)`, so
    runs that consume state (fresh sign-up addresses, refresh chains) get new
    state each time."""

    server: Server
    label: str
    make_load: Callable[[int], Load]


def measure_wrk(
    bench: Bench, server: Server, label: str, make_load: Callable[[int], Load]
) -> tuple[dict[str, Any], list[WrkResult]]:
    """One figure: a warm-up run, then `runs` measured ones, resting after each."""
    return measure_together(bench, [Scenario(server, label, make_load)])[0]


def measure_together(
    bench: Bench,
    scenarios: list[Scenario],
    beside: Callable[[], None] | None = None,
) -> list[tuple[dict[str, Any], list[WrkResult]]]:
    """Figures that a ratio compares, measured in turn run by run (warm-ups,
    then A1 B1 A2 B2 ...), so a change in what the shared machine's neighbours
    do falls on both sides of the ratio alike. `beside` runs after each
    measured round, for a yardstick that is not a wrk run."""
    plan = bench.plan
    warmups: list[WrkResult | None] = [None] * len(scenarios)
    runs: list[list[WrkResult]] = [[] for _ in scenarios]
    rounds = plan.runs + (1 if plan.warmup else 0)
    for index in range(rounds):
        is_warmup = plan.warmup > 0 and index == 0
        for position, scenario in enumerate(scenarios):
            server = scenario.server
            load = scenario.make_load(index)
            seconds = plan.warmup if is_warmup else plan.duration
            result = run_observed(bench, server, load, seconds)
            settle(server, pause=plan.pause, window=plan.settle_window)
            name = "warm-up" if is_warmup else f"run {len(runs[position]) + 1}/{plan.runs}"
            bench.say(f"  [{server.workers}w] {scenario.label} {name}: {_brief(result)}")
            if is_warmup:
                warmups[position] = result
            else:
                runs[position].append(result)
        if beside is not None and not is_warmup:
            beside()
    return [
        (report.wrk_figure(measured, warmup), [r for r in (warmup, *measured) if r])
        for measured, warmup in zip(runs, warmups, strict=True)
    ]


def run_observed(bench: Bench, server: Server, load: Load, seconds: int) -> WrkResult:
    """One wrk run, with what it cost the server: CPU, new database connections, and
    with several workers who held the connections."""
    cpu_before = cpu_by_worker(server)
    machine_before = machine_cpu()
    sessions_before = session_count(bench.db_name)
    proc = bench.wrk.start(server.port, load, seconds)
    # Mid-run, when every connection is open and none is closing yet.
    time.sleep(seconds / 2)
    connections = connections_by_worker(server)
    result = bench.wrk.finish(proc, seconds)
    cpu_after = cpu_by_worker(server)
    machine_after = machine_cpu()
    sessions_after = session_count(bench.db_name)
    pids = sorted(cpu_after)
    cpu = [round(cpu_after[pid] - cpu_before.get(pid, cpu_after[pid]), 3) for pid in pids]
    if result.requests:
        result.cpu_ms_per_request = round(1000 * sum(cpu) / result.requests, 3)
    machine_total = machine_after[1] - machine_before[1]
    if machine_total > 0:
        result.machine_busy_share = round((machine_after[0] - machine_before[0]) / machine_total, 3)
    if sessions_before is not None and sessions_after is not None:
        result.db_connects = sessions_after - sessions_before
    if server.workers > 1:
        result.per_worker = {
            "pids": [float(pid) for pid in pids],
            "connections": [float(connections.get(pid, 0)) for pid in pids],
            "cpu_s": cpu,
        }
    return result


def _brief(result: WrkResult) -> str:
    text = (
        f"{result.rps:.1f} req/s, p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
        f"{result.non2xx} non-2xx, {result.socket_errors} socket errors"
    )
    if result.unexpected:
        text += f", {result.unexpected} unexpected"
    if result.cpu_ms_per_request is not None:
        text += f"; server cpu {result.cpu_ms_per_request:.2f} ms/req"
    if result.db_connects is not None:
        text += f", {result.db_connects} new db connections"
    if result.machine_busy_share is not None:
        text += f", machine {100 * result.machine_busy_share:.0f}% busy"
    if result.per_worker:
        split = "/".join(str(int(n)) for n in result.per_worker["connections"])
        cpu = "/".join(f"{s:.1f}" for s in result.per_worker["cpu_s"])
        text += f"; conns per worker {split}, cpu s {cpu}"
    return text


def users_me(bench: Bench, server: Server, bare: Server, figures: dict[str, Any]) -> None:
    for conns in USERS_ME_CONNECTIONS:
        # A fresh token per figure: access tokens live 15 minutes.
        token = log_in(server.port, bench.email, bench.password)["access_token"]
        load = Load(
            label=f"GET /users/me {conns} conns",
            path="/users/me",
            script="get.lua",
            connections=conns,
            headers=(f"Authorization: Bearer {token}",),
        )
        scenarios = [Scenario(server, load.label, lambda _, load=load: load)]
        if conns == CONNECTIONS:
            # The ratio's other side, the framework alone, in turn with it.
            bare_load = Load(
                label=f"GET /bare {conns} conns", path="/bare", script="get.lua", connections=conns
            )
            scenarios.append(Scenario(bare, bare_load.label, lambda _, b=bare_load: b))
        measured = measure_together(bench, scenarios)
        figures[f"users_me_c{conns}"] = measured[0][0]
        if conns == CONNECTIONS:
            figures["bare_c16"] = measured[1][0]


def logins(bench: Bench, server: Server, figures: dict[str, Any]) -> None:
    load = login_load(bench)
    [(figures["login_c16"], _)] = measure_together(
        bench,
        [Scenario(server, load.label, lambda _: load)],
        beside=_bcrypt_beside(bench, figures, "bcrypt_beside_login"),
    )


def _bcrypt_beside(bench: Bench, figures: dict[str, Any], key: str) -> Callable[[], None]:
    """Raw bcrypt on 2 threads after each measured round of a hashing figure, while
    the server rests: its yardstick, measured under the same neighbours."""
    rates: list[dict[str, float]] = []
    figures[key] = {"threads": 2, "median": None, "runs": rates}

    def measure() -> None:
        rates.append(_hashrate(bench.plan.rounds, 2, bench.plan.duration))
        figures[key]["median"] = statistics.median(rate["rate"] for rate in rates)
        bench.say(f"  raw bcrypt, 2 threads, beside it: {rates[-1]['rate']:.1f} hashes/s")

    return measure


def login_load(bench: Bench) -> Load:
    return Load(
        label=f"POST /login {CONNECTIONS} conns",
        path="/login",
        script="login.lua",
        connections=CONNECTIONS,
        args=(bench.email, bench.password),
    )


def signups(bench: Bench, server: Server, figures: dict[str, Any]) -> None:
    def make_load(index: int) -> Load:
        return Load(
            label=f"POST /users {CONNECTIONS} conns",
            path="/users",
            script="signup.lua",
            connections=CONNECTIONS,
            # A nonce per run: addresses of an earlier run are taken.
            args=(f"{bench.nonce}{server.workers}w{index}", bench.password),
        )

    [(figures["signup_c16"], _)] = measure_together(
        bench,
        [Scenario(server, f"POST /users {CONNECTIONS} conns", make_load)],
        beside=_bcrypt_beside(bench, figures, "bcrypt_beside_signup"),
    )


def refreshes(
    bench: Bench, server: Server, bare: Server, figures: dict[str, Any], scratch: Path
) -> None:
    load = Load(
        label=f"POST /refresh {CONNECTIONS} conns",
        path="/refresh",
        script="refresh.lua",
        connections=CONNECTIONS,
    )
    threads = bench.wrk.threads_for(load)

    def make_load(index: int) -> Load:
        # One chain per connection, plus one per thread: wrk calls request()
        # once before the run to check the script, and that token is thrown away.
        tokens = refresh_tokens(
            server.port, bench.email, bench.password, load.connections + threads
        )
        path = scratch / f"refresh-{server.workers}w-{index}.txt"
        path.write_text("\n".join(tokens) + "\n")
        return Load(**{**asdict(load), "args": (str(path), str(threads))})

    selects = Load(
        label=f"GET /two-selects {CONNECTIONS} conns",
        path="/two-selects",
        script="get.lua",
        connections=CONNECTIONS,
    )
    (figure, every_run), (figures["two_selects_c16"], _) = measure_together(
        bench,
        [
            Scenario(server, load.label, make_load),
            Scenario(bare, selects.label, lambda _: selects),
        ],
    )
    figures["refresh_c16"] = figure
    broken = [run for run in every_run if run.unauthorized or run.dry]
    if broken:
        bench.harness_error(
            "refresh chain broke: "
            + "; ".join(f"{run.unauthorized} x 401, {run.dry} x empty pool" for run in broken)
        )


def health(bench: Bench, server: Server, figures: dict[str, Any]) -> None:
    for key, storm in (("health_idle", False), ("health_storm", True)):
        runs = []
        total = bench.plan.runs + (1 if bench.plan.warmup else 0)
        for index in range(total):
            measured = health_run(bench, server, storm=storm)
            settle(server, pause=bench.plan.pause, window=bench.plan.settle_window)
            label = "warm-up" if bench.plan.warmup and index == 0 else "run"
            bench.say(
                f"  [{server.workers}w] GET /health {'storm' if storm else 'idle'} {label}: "
                f"p50 {measured['p50_ms']:.2f} ms, p99 {measured['p99_ms']:.2f} ms, "
                f"{measured['failures']} failed"
            )
            if label == "run":
                runs.append(measured)
        figures[key] = report.health_figure(runs)


def health_run(bench: Bench, server: Server, *, storm: bool) -> dict[str, Any]:
    plan = bench.plan
    storm_proc = None
    if storm:
        seconds = plan.duration + STORM_LEAD_S + STORM_TAIL_S
        storm_proc = bench.wrk.start(server.port, login_load(bench), seconds)
        time.sleep(STORM_LEAD_S)
    try:
        probed = probe(server.port, "/health", rate=plan.probe_rate, seconds=plan.duration)
    finally:
        storm_result = None
        if storm_proc is not None:
            storm_result = bench.wrk.finish(storm_proc, plan.duration + STORM_TAIL_S)
    return {
        "p50_ms": report.percentile(probed.latencies_ms, 50),
        "p99_ms": report.percentile(probed.latencies_ms, 99),
        "samples": len(probed.latencies_ms),
        "failures": probed.failures,
        "late": probed.late,
        "storm": storm_result.as_dict() if storm_result else None,
    }


def measure_machine(bench: Bench) -> None:
    """Raw bcrypt rate, each run a process of its own while no server is up."""
    plan = bench.plan
    for threads in (1, 2):
        if plan.warmup:
            _hashrate(plan.rounds, threads, plan.warmup)
        rates = []
        for _ in range(plan.runs):
            rates.append(_hashrate(plan.rounds, threads, plan.duration))
            # Only the hashing process ran: a short rest lets the cores cool down.
            time.sleep(min(plan.pause, 1.0))
        median = statistics.median(rate["rate"] for rate in rates)
        bench.results["machine"]["bcrypt"][str(threads)] = {"median": median, "runs": rates}
        bench.say(f"raw bcrypt cost {plan.rounds}, {threads} thread(s): {median:.1f} hashes/s")


def _hashrate(rounds: int, threads: int, seconds: int) -> dict[str, float]:
    argv = [sys.executable, str(BENCH / "hashrate.py"), f"--rounds={rounds}"]
    argv += [f"--threads={threads}", f"--seconds={seconds}"]
    done = subprocess.run(  # noqa: S603 - our own argv, no shell
        argv, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if done.returncode != 0:
        raise HarnessError(f"hashrate.py failed:\n{done.stderr[-2000:]}")
    measured: dict[str, float] = json.loads(done.stdout)
    return measured


def measure_servers(bench: Bench, url: str, workers: int, scratch: Path) -> None:
    """Every figure of one worker count. The service and the yardstick are up
    together, so each ratio's two sides are measured in turn (one server idles
    while the other is measured)."""
    env = server_env(url, workers, bench.plan.rounds, bench.plan.algorithm)
    figures = bench.results["servers"].setdefault(str(workers), {})
    with (
        service_server(bench, "service", workers, env) as server,
        running_server(
            bench.children, name="bare", app=BARE_APP, ready_path="/bare", workers=workers, env=env
        ) as bare,
    ):
        if not bench.email:
            bench.email = f"bench-{bench.nonce}@example.com"
            sign_up(server.port, bench.email, bench.password)
        users_me(bench, server, bare, figures)
        refreshes(bench, server, bare, figures, scratch)
        logins(bench, server, figures)
        signups(bench, server, figures)
        health(bench, server, figures)
        if bench.plan.smoke:
            # Saves a server start; the full run measures memory on a fresh one.
            measure_memory(bench, server)


def memory_server(bench: Bench, url: str) -> None:
    """The memory runs on a fresh server, so `before` is the RSS of a worker just started."""
    workers = bench.plan.memory_workers
    env = server_env(url, workers, bench.plan.rounds, bench.plan.algorithm)
    with service_server(bench, "service-memory", workers, env) as server:
        measure_memory(bench, server)


def service_server(
    bench: Bench, name: str, workers: int, env: dict[str, str]
) -> AbstractContextManager[Server]:
    return running_server(
        bench.children, name=name, app=SERVICE_APP, ready_path="/health", workers=workers, env=env
    )


def measure_memory(bench: Bench, server: Server) -> None:
    """Worker RSS before and after two successive read runs."""
    plan = bench.plan
    token = log_in(server.port, bench.email, bench.password)["access_token"]
    pids = server.worker_pids()
    snapshots = [{pid: rss_kib(pid) for pid in pids}]
    load = Load(
        label=f"GET /users/me {MEMORY_CONNECTIONS} conns (memory)",
        path="/users/me",
        script="get.lua",
        connections=MEMORY_CONNECTIONS,
        headers=(f"Authorization: Bearer {token}",),
    )
    runs = []
    for index in (1, 2):
        result = run_observed(bench, server, load, plan.mem_duration)
        settle(server, pause=plan.pause, window=plan.settle_window)
        snapshots.append({pid: rss_kib(pid) for pid in pids})
        runs.append(result.as_dict())
        bench.say(f"  [{server.workers}w] memory read run {index}: {_brief(result)}")
    if sorted(server.worker_pids()) != sorted(pids):
        bench.say("  warning: the worker processes changed during the memory runs")
    bench.results["memory"] = {
        "workers": server.workers,
        "connections": MEMORY_CONNECTIONS,
        "seconds_per_run": plan.mem_duration,
        "fresh_server": not plan.smoke,
        "processes": [_rss_steps(pid, snapshots) for pid in pids],
        "runs": runs,
    }


def _rss_steps(pid: int, snapshots: list[dict[int, int | None]]) -> dict[str, Any]:
    before, first, second = (snapshot.get(pid) for snapshot in snapshots)
    growth = None if first is None or second is None else second - first
    return {
        "pid": pid,
        "before_kib": before,
        "after_first_kib": first,
        "after_second_kib": second,
        "growth_kib": growth,
    }


# --- the whole run ---------------------------------------------------------


def measure_all(bench: Bench) -> None:
    plan = bench.plan
    bench.say(f"raw bcrypt rate (cost {plan.rounds}), nothing else running")
    measure_machine(bench)
    with (
        throwaway_database(bench.db_name) as url,
        tempfile.TemporaryDirectory(prefix="bench-") as scratch,
    ):
        for workers in plan.worker_counts:
            bench.say(f"service and bare yardstick app, {workers} worker(s)")
            measure_servers(bench, url, workers, Path(scratch))
        if not plan.smoke:
            bench.say(f"memory, {plan.memory_workers} worker(s)")
            memory_server(bench, url)


def new_results(plan: Plan) -> dict[str, Any]:
    settings = asdict(plan)
    settings["output"] = str(plan.output)
    return {
        "mode": "smoke" if plan.smoke else "full",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": _git_state(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_at_start": os.getloadavg(),
            "bcrypt": {},
        },
        "settings": settings,
        "servers": {},
        "memory": None,
        "ratios": [],
        "harness_errors": [],
    }


def _git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            ["git", *args],  # noqa: S607 - git from PATH, as a developer runs it
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return done.stdout.strip()

    # The service changes often: record exactly what was measured.
    return {"commit": git("rev-parse", "HEAD"), "changed": git("status", "--porcelain")}


def finish(bench: Bench) -> None:
    results = bench.results
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["ratios"] = report.ratios(results)
    bench.plan.output.parent.mkdir(parents=True, exist_ok=True)
    bench.plan.output.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(report.table(results))
    print()
    log(f"results written to {bench.plan.output}")
    for error in results["harness_errors"]:
        log(f"harness error: {error}")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGINT unwind alike, so servers are stopped and the database dropped."""

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous_term = signal.signal(signal.SIGTERM, interrupt)
    # Started in the background by a shell, Python inherits SIGINT ignored; restore Ctrl-C.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)


def main(argv: list[str]) -> int:
    plan = parse_args(argv)
    try:
        binary = ensure_wrk()
    except HarnessError as exc:
        log(f"HARNESS ERROR: {exc}")
        return 1
    children = Children()
    wrk = Wrk(binary, children, threads=plan.wrk_threads, timeout_s=plan.wrk_timeout)
    bench = Bench(plan=plan, children=children, wrk=wrk, results=new_results(plan))
    try:
        with sigterm_as_interrupt():
            try:
                measure_all(bench)
            finally:
                children.stop_all()
    except KeyboardInterrupt:
        log("interrupted: servers stopped, database dropped")
        return 130
    except HarnessError as exc:
        # What was measured before the failure is still written, for diagnosis.
        bench.harness_error(str(exc))
    finish(bench)
    return 1 if bench.results["harness_errors"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
