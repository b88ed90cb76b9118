"""Issue #18's goals (Performance III), evaluated PASS / MISS from one run's JSON
(bench/results/latest.json, or the soak's): compiled execution against the peer (GraphQL Mesh +
Hive Gateway, bench/peer.py) measured in the same run, its tail, its collector pauses and its
memory. They read the JSON's shape, not the records, so a written run can be evaluated again
(`python -m bench.peer_goals bench/results/latest.json`).

Not evaluated here: "standard execution must not regress" needs a run of the code before the
change (compare two runs' `standard` figures), and the differential suite proves the semantics.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .results import GoalLine, Verdict

__all__ = [
    "GC_PAUSE_MS",
    "GOAL_SCENARIOS",
    "OPS_TO_PEER",
    "OPS_TO_PEER_INTERMEDIATE",
    "P99_TO_P50_AT_1",
    "PEAK_RSS_MB",
    "SCREENPOP_P50_TO_CRITICAL",
    "SOAK_GROWTH_MB_PER_MIN",
    "goals",
    "soak_goals",
]

GOAL_SCENARIOS = ("supervisor-10", "supervisor-100", "screenpop")
OPS_TO_PEER = 2.0
"""ops/CPU-s, compiled / Hive, each of the three."""
OPS_TO_PEER_INTERMEDIATE = 1.5
P99_TO_P50_AT_1 = 1.2
"""p99 / p50 at concurrency 1 with every back-end answering after 20 ms."""
GC_PAUSE_MS = 10.0
"""No collection pause longer than this in the measured windows."""
PEAK_RSS_MB = 150.0
"""VmHWM of one worker through the whole bench (MiB, as /proc counts)."""
SCREENPOP_P50_TO_CRITICAL = 1.1
"""Screen-pop p50 at concurrency 1, 20 ms back-ends, over the critical path (3 x 20 ms)."""
SOAK_GROWTH_MB_PER_MIN = 0.2
"""Flat: RSS grows at most this much per minute over the soak's last half (least squares),
and its maximum stays within 10% of its first sample."""

MODE = "compiled"
PEER = "hive"


def _verdict(figure: float | None, op: str, limit: float) -> Verdict:
    if figure is None:
        return "not measured"
    passed = {
        ">=": figure >= limit,
        "<=": figure <= limit,
        "<": figure < limit,
        "==": figure == limit,
    }[op]
    return "PASS" if passed else "MISS"


def _line(
    scenario: str, goal: str, figure: float | None, op: str, limit: float, note: str | None
) -> GoalLine:
    return GoalLine(scenario, goal, figure, op, limit, _verdict(figure, op, limit), note)


def _get(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _ratio(a: Any, b: Any, digits: int = 3) -> float | None:
    if not isinstance(a, int | float) or not isinstance(b, int | float) or not b:
        return None
    return round(a / b, digits)


def goals(run: dict[str, Any]) -> list[GoalLine]:
    """The goals from a run's JSON (the first HTTP client's figures)."""
    runs: dict[str, Any] = run.get("runs") or {}
    results: dict[str, Any] = next(iter(runs.values()), {})
    why_no_peer = _get(run, "peer", "reason") or "peer not run"
    point = str(_get(run, "settings", "headline_concurrency") or 16)
    lines: list[GoalLine] = []
    for scenario in GOAL_SCENARIOS:
        row = results.get(scenario)
        compiled = _get(row, MODE)
        peer = _get(row, PEER)
        missing = (
            "scenario not run" if row is None else f"{MODE} not run" if compiled is None else None
        )
        peer_missing = missing or (None if peer is not None else why_no_peer)
        ops = _ratio(_get(compiled, "ops_per_cpu_s"), _get(peer, "ops_per_cpu_s"))
        note = peer_missing or (
            f"{_get(compiled, 'ops_per_cpu_s')} / {_get(peer, 'ops_per_cpu_s')} ops/CPU-s"
        )
        for limit, what in ((OPS_TO_PEER, ""), (OPS_TO_PEER_INTERMEDIATE, " (intermediate)")):
            lines.append(
                _line(scenario, f"ops/CPU-s compiled / Hive{what}", ops, ">=", limit, note)
            )
        c99 = _get(compiled, "load_0ms", point, "p99_ms")
        h99 = _get(peer, "load_0ms", point, "p99_ms")
        errors = any(_get(m, "load_0ms", point, "errors") for m in (compiled, peer))
        note = peer_missing or (
            f"{c99} / {h99} ms" + (f"; errors at concurrency {point}" if errors else "")
        )
        if not peer_missing and c99 is None:
            note = f"concurrency {point} not run"
        lines.append(
            _line(scenario, f"p99@{point} compiled / Hive", _ratio(c99, h99), "<", 1.0, note)
        )
        slow = _get(compiled, "latency_20ms")
        p50, p99 = _get(slow, "p50_ms"), _get(slow, "p99_ms")
        lines.append(
            _line(
                scenario,
                "p99 / p50 @1, 20 ms back-ends (compiled)",
                _ratio(p99, p50),
                "<=",
                P99_TO_P50_AT_1,
                missing or f"{p99} / {p50} ms",
            )
        )
        gc = _get(compiled, "gc")
        over = _get(gc, "over_10ms")
        longest = _get(gc, "longest_ms")
        bound = "" if _get(gc, "longest_exact") else "<= "
        generation = _get(gc, "longest_generation")
        which = "" if generation is None else f" (generation {generation})"
        share = _get(gc, "cpu_share")
        which += "" if share is None else f"; GC {share:.1%} of the CPU"
        lines.append(
            _line(
                scenario,
                f"GC pauses > {GC_PAUSE_MS:g} ms in the windows (compiled)",
                None if over is None else float(over),
                "==",
                0.0,
                missing
                or (
                    "no gc metrics on /metrics"
                    if gc is None
                    else f"longest {bound}{longest} ms{which}"
                ),
            )
        )
        if scenario == "screenpop":
            critical = _get(slow, "critical_path_ms")
            lines.append(
                _line(
                    scenario,
                    "p50 @1, 20 ms back-ends / critical path (compiled)",
                    _ratio(p50, critical),
                    "<=",
                    SCREENPOP_P50_TO_CRITICAL,
                    missing or f"{p50} / {critical} ms",
                )
            )
    peaks: dict[str, Any] = run.get("peak_rss_mb") or {}
    others = ", ".join(f"{t} {v}" for t, v in peaks.items() if t != MODE)
    lines.append(
        _line(
            "all",
            "peak RSS MiB through the bench (compiled)",
            peaks.get(MODE),
            "<=",
            PEAK_RSS_MB,
            f"{MODE} not run" if MODE not in peaks else (others or None),
        )
    )
    return lines


def soak_goals(soak: dict[str, Any]) -> list[GoalLine]:
    """The memory goals of a soak's JSON: peak RSS and flat over the run."""
    growth = soak.get("growth_mb_per_min_last_half")
    first, highest = soak.get("rss_first_mb"), soak.get("rss_max_mb")
    name = "soak (mix)" if soak.get("mix") else "soak"
    return [
        _line(name, "peak RSS MiB (soak)", soak.get("peak_rss_mb"), "<=", PEAK_RSS_MB, None),
        _line(
            name,
            "RSS growth MiB/min over the last half",
            growth,
            "<=",
            SOAK_GROWTH_MB_PER_MIN,
            f"first {first}, max {highest}, last {soak.get('rss_last_mb')} MiB",
        ),
        _line(
            name,
            "RSS max / first",
            _ratio(highest, first),
            "<=",
            1.1,
            None,
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Print the goals of a written run (latest.json or soak.json)."""
    args = list(sys.argv[1:] if argv is None else argv)
    path = Path(args[0] if args else "bench/results/latest.json")
    data = json.loads(path.read_text())
    lines = soak_goals(data) if "samples" in data else goals(data)
    for g in lines:
        figure = "-" if g.figure is None else f"{g.figure:g}"
        print(
            f"{g.verdict:<13} {g.scenario:<15} {g.goal}: {figure} {g.op} {g.limit:g}"
            + (f"  ({g.note})" if g.note else "")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
