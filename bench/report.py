"""From measured runs to figures, ratios against the targets, and the printed table.

Everything here works on the plain results dict that is also written as JSON,
so a saved `latest.json` can be re-rendered or compared later.
"""

import math
import operator
import statistics
from collections.abc import Callable, Iterable
from typing import Any

from loadgen import WrkResult

Results = dict[str, Any]
OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "<": operator.lt,
}
MIB = 1024


def wrk_figure(runs: list[WrkResult], warmup: WrkResult | None) -> dict[str, Any]:
    """The median of the measured runs; errors add up over them."""
    return {
        "rps": statistics.median(run.rps for run in runs),
        "p50_ms": statistics.median(run.p50_ms for run in runs),
        "p99_ms": statistics.median(run.p99_ms for run in runs),
        "non2xx": sum(run.non2xx for run in runs),
        "socket_errors": sum(run.socket_errors for run in runs),
        "unexpected": sum(run.unexpected for run in runs),
        "cpu_ms_per_request": _median_of(run.cpu_ms_per_request for run in runs),
        "db_connects_per_run": _median_of(run.db_connects for run in runs),
        "machine_busy_share": _median_of(run.machine_busy_share for run in runs),
        "runs": [run.as_dict() for run in runs],
        "warmup": warmup.as_dict() if warmup else None,
    }


def _median_of(values: Iterable[float | int | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile: always one of the measured values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def health_figure(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "p50_ms": statistics.median(run["p50_ms"] for run in runs),
        "p99_ms": statistics.median(run["p99_ms"] for run in runs),
        "samples": sum(run["samples"] for run in runs),
        "failures": sum(run["failures"] for run in runs),
        "late": sum(run["late"] for run in runs),
        "runs": runs,
    }


def ratios(results: Results) -> list[dict[str, Any]]:
    servers: dict[str, dict[str, Any]] = results["servers"]
    counts = sorted(servers, key=int)
    found: list[dict[str, Any]] = []
    if not counts:
        return found
    top, first = counts[-1], counts[0]
    bcrypt2 = results["machine"]["bcrypt"].get("2", {}).get("median")
    for figure, label, threshold in (("login", "logins", 0.9), ("signup", "sign-ups", 0.85)):
        # The raw rate measured beside the figure's own runs where there is one:
        # the one at the start met other neighbours.
        beside = servers.get(top, {}).get(f"bcrypt_beside_{figure}")
        if beside and beside["median"] is None:
            beside = None  # the harness failed before the first of them
        measured = servers.get(top, {}).get(f"{figure}_c16")
        ratio = _ratio(
            f"{label}/s ({top}w) / raw bcrypt hashes/s on 2 threads"
            + (" beside them" if beside else ", at the start"),
            measured and measured["rps"],
            beside["median"] if beside else bcrypt2,
            ">=",
            threshold,
        )
        if beside and measured:
            _pair_runs(ratio, measured, beside, "rate", ">=", threshold)
        found.append(ratio)
    for workers in counts:
        found.append(
            _ratio(
                f"/health p99 during login storm / idle p99 ({workers}w)",
                _get(servers, workers, "health_storm", "p99_ms"),
                _get(servers, workers, "health_idle", "p99_ms"),
                "<=",
                5.0,
            )
        )
    found.append(
        _paired_ratio(
            servers,
            first,
            f"GET /users/me req/s ({first}w, 16 conns) / GET /bare req/s ({first}w)",
            ("users_me_c16", "bare_c16"),
            ">=",
            0.10,
        )
    )
    for workers in counts:
        found += _tail_latency_ratios(servers, workers)
    for workers in counts:
        found.append(
            _paired_ratio(
                servers,
                workers,
                f"refresh req/s / two-selects req/s ({workers}w)",
                ("refresh_c16", "two_selects_c16"),
                ">=",
                1.0,
            )
        )
    return found


def _paired_ratio(
    servers: dict[str, Any],
    workers: str,
    name: str,
    keys: tuple[str, str],
    op: str,
    threshold: float,
) -> dict[str, Any]:
    top, bottom = (servers.get(workers, {}).get(key) for key in keys)
    ratio = _ratio(name, top and top["rps"], bottom and bottom["rps"], op, threshold)
    if top and bottom:
        _pair_runs(ratio, top, bottom, "rps", op, threshold)
    return ratio


def _pair_runs(
    ratio: dict[str, Any],
    figure: dict[str, Any],
    yardstick: dict[str, Any],
    key: str,
    op: str,
    threshold: float,
) -> None:
    """Judge a ratio whose two sides were measured in turn by the median of its
    per-round ratios (run i over the yardstick's run i), a paired comparison:
    a round the neighbours slowed slows both of its sides. The ratio of the
    two medians stays in the results beside it."""
    pairs = [
        run["rps"] / other[key]
        for run, other in zip(figure["runs"], yardstick["runs"], strict=False)
        if other[key]
    ]
    if len(pairs) != len(figure["runs"]) or not pairs:
        return
    ratio["of_medians"] = ratio["value"]
    ratio["per_round"] = pairs
    ratio["value"] = statistics.median(pairs)
    ratio["met"] = OPS[op](ratio["value"], threshold)


def _tail_latency_ratios(servers: dict[str, Any], workers: str) -> list[dict[str, Any]]:
    """p99 at 64 and 256 connections over p99 at 16; met only with no errors at all."""
    found = []
    base = servers.get(workers, {}).get("users_me_c16")
    for conns in (64, 256):
        loaded = servers.get(workers, {}).get(f"users_me_c{conns}")
        ratio = _ratio(
            f"GET /users/me p99 at {conns} / at 16 conns ({workers}w)",
            loaded and loaded["p99_ms"],
            base and base["p99_ms"],
            "<",
            10.0,
        )
        errors = sum(_errors(figure) for figure in (base, loaded) if figure)
        ratio["errors"] = errors
        ratio["target"] += ", 0 errors"
        ratio["met"] = bool(ratio["met"]) and errors == 0
        found.append(ratio)
    return found


def _errors(figure: dict[str, Any]) -> int:
    return int(figure["non2xx"] + figure["socket_errors"] + figure["unexpected"])


def _get(servers: dict[str, Any], workers: str, figure: str, key: str) -> float | None:
    value = servers.get(workers, {}).get(figure, {}).get(key)
    return None if value is None else float(value)


def _ratio(
    name: str, numerator: float | None, denominator: float | None, op: str, threshold: float
) -> dict[str, Any]:
    value = None
    if numerator is not None and denominator:
        value = numerator / denominator
    met = value is not None and OPS[op](value, threshold)
    return {"name": name, "value": value, "target": f"{op} {threshold:g}", "met": met}


# --- the table -------------------------------------------------------------


def table(results: Results) -> str:
    rows = [("figure", "value", "target", "result")]
    rows += _machine_rows(results)
    for workers, figures in sorted(results["servers"].items(), key=lambda item: int(item[0])):
        rows += _server_rows(workers, figures)
    rows += _memory_rows(results.get("memory"))
    for ratio in results.get("ratios", []):
        value = "n/a" if ratio["value"] is None else f"{ratio['value']:.3f}"
        if ratio.get("per_round"):
            rounds = " ".join(f"{pair:.3f}" for pair in ratio["per_round"])
            value += f" (median of rounds {rounds}; of medians {ratio['of_medians']:.3f})"
        rows.append((ratio["name"], value, ratio["target"], "met" if ratio["met"] else "MISSED"))
    return _render(rows)


def _machine_rows(results: Results) -> list[tuple[str, str, str, str]]:
    rounds = results["settings"]["rounds"]
    rows = []
    for threads, figure in sorted(results["machine"]["bcrypt"].items()):
        label = f"raw bcrypt (cost {rounds}), {threads} thread(s)"
        rows.append((label, f"{figure['median']:.1f} hashes/s", "", ""))
    return rows


FIGURE_LABELS = {
    "users_me_c16": "GET /users/me, 16 conns",
    "users_me_c64": "GET /users/me, 64 conns",
    "users_me_c256": "GET /users/me, 256 conns",
    "login_c16": "POST /login, 16 conns",
    "signup_c16": "POST /users (sign-up), 16 conns",
    "refresh_c16": "POST /refresh (rotation), 16 conns",
    "bare_c16": "bare GET /bare, 16 conns",
    "two_selects_c16": "bare GET /two-selects, 16 conns",
}


def _server_rows(workers: str, figures: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    for key, label in FIGURE_LABELS.items():
        figure = figures.get(key)
        if figure:
            rows.append((f"{label} [{workers}w]", _wrk_value(figure), "", ""))
    for key in ("login", "signup"):
        figure = figures.get(f"bcrypt_beside_{key}")
        if figure and figure["median"] is not None:
            rates = " ".join(f"{run['rate']:.1f}" for run in figure["runs"])
            rows.append(
                (
                    f"raw bcrypt, 2 threads, beside {FIGURE_LABELS[key + '_c16']} [{workers}w]",
                    f"{figure['median']:.1f} hashes/s (runs {rates})",
                    "",
                    "",
                )
            )
    for key, label in (("health_idle", "idle"), ("health_storm", "during login storm")):
        figure = figures.get(key)
        if figure:
            value = (
                f"p50 {figure['p50_ms']:.2f} ms  p99 {figure['p99_ms']:.2f} ms  "
                f"({figure['samples']} probes, {figure['failures']} failed)"
            )
            rows.append((f"GET /health {label} [{workers}w]", value, "", ""))
    return rows


def _wrk_value(figure: dict[str, Any]) -> str:
    errors = f"{figure['non2xx']} non-2xx, {figure['socket_errors']} socket err"
    if figure["unexpected"]:
        errors += f", {figure['unexpected']} unexpected"
    text = (
        f"{figure['rps']:8.1f} req/s  p50 {figure['p50_ms']:7.2f} ms  "
        f"p99 {figure['p99_ms']:7.2f} ms  {errors}"
    )
    if figure.get("cpu_ms_per_request") is not None:
        text += f"  cpu {figure['cpu_ms_per_request']:.2f} ms/req"
    if figure.get("db_connects_per_run") is not None:
        text += f"  db conns opened/run {figure['db_connects_per_run']:g}"
    if figure.get("machine_busy_share") is not None:
        text += f"  machine {100 * figure['machine_busy_share']:.0f}% busy"
    splits = [
        "/".join(str(int(n)) for n in run["per_worker"]["connections"])
        for run in figure["runs"]
        if run.get("per_worker")
    ]
    if splits:
        text += f"  conns/worker {' '.join(splits)}"
    return text


def _memory_rows(memory: dict[str, Any] | None) -> list[tuple[str, str, str, str]]:
    if not memory:
        return []
    rows = []
    for proc in memory["processes"]:
        steps = [proc["before_kib"], proc["after_first_kib"], proc["after_second_kib"]]
        shown = " -> ".join("?" if kib is None else f"{kib / MIB:.1f}" for kib in steps)
        growth = proc["growth_kib"]
        growth_text = "?" if growth is None else f"{growth / MIB:+.2f} MiB"
        label = f"RSS worker pid {proc['pid']} [{memory['workers']}w]"
        rows.append((label, f"{shown} MiB; growth run 1->2 {growth_text}", "report", ""))
    return rows


def _render(rows: list[tuple[str, str, str, str]]) -> str:
    widths = [max(len(row[col]) for row in rows) for col in range(4)]
    lines = []
    for index, row in enumerate(rows):
        lines.append(" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            lines.append("-+-".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)
