"""The peer's part of what `python -m bench` prints and writes (bench/report.py places it):
issue #18's table — per workload ops/CPU-s of compiled, standard, Hive and the floor, the ratios,
p99 at concurrency 16, p50/p99 at concurrency 1 with 20 ms back-ends, the longest collector
pause — the peak RSS of each process through the whole run, and the goals PASS / MISS."""

from __future__ import annotations

from .harness import PEER
from .peer_check import PEER_SCENARIOS
from .results import Figures, GcWindow, GoalLine, Ratios, Run

__all__ = ["gc_rows", "goal_rows", "peer_rows", "peer_warnings", "rss_line"]

ORDER = ("compiled", "standard", PEER, "floor")


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _slash(values: list[str]) -> str:
    return " / ".join(values)


def _gc(window: GcWindow | None) -> str:
    if window is None:
        return "-"
    longest = ("" if window.longest_exact else "<=") + _f(window.longest_ms)
    generation = "" if window.longest_generation is None else f" g{window.longest_generation}"
    share = "" if window.cpu_share is None else f", {window.cpu_share:.0%} CPU"
    return f"{longest}{generation} ({window.over_10ms}{share})"


def _ops(r: Ratios | None) -> float | None:
    return None if r is None else r.ops_per_cpu_s


def peer_rows(out: Run) -> list[list[str]]:
    """One row per workload the peer runs (first HTTP client): the issue's table."""
    point = str(out.settings.headline_concurrency)
    head = [
        "workload",
        "ops/CPU-s: compiled / standard / Hive / floor",
        "compiled / Hive",
        "compiled / floor",
        "floor / Hive",
        f"p99 ms @{point}: compiled / Hive / floor",
        "p50 / p99 ms @1, 20 ms: compiled / Hive / floor",
        "longest GC pause ms, generation (pauses >10 ms, GC's CPU share): compiled / standard",
        "= REST data",
    ]
    rows = [head]
    results = next(iter(out.runs.values()), {})
    for name in PEER_SCENARIOS:
        row = results.get(name)
        if row is None:
            continue
        m = {t: row.measured.get(t) for t in ORDER}
        to_peer = row.ratio_to_peer or {}
        floor_ratios = (row.ratio_to_floor or {}).get("compiled")

        def p99(f: Figures | None) -> str:
            point_figures = None if f is None else f.load_0ms.get(point)
            return _f(None if point_figures is None else point_figures.p99_ms)

        def slow(f: Figures | None) -> str:
            if f is None:
                return "-"
            return f"{_f(f.latency_20ms.p50_ms)}/{_f(f.latency_20ms.p99_ms)}"

        verdicts = {t: f.same_data_as_rest for t, f in m.items() if f is not None}
        checked = {t: v for t, v in verdicts.items() if v is not None}
        bad = [t for t, v in checked.items() if not v]
        rest = "-" if not checked else "yes" if not bad else "NO: " + ", ".join(bad)
        rows.append(
            [
                name,
                _slash([_f(None if f is None else f.ops_per_cpu_s) for f in m.values()]),
                _f(_ops(to_peer.get("compiled")), 2),
                _f(_ops(floor_ratios), 2),
                _f(_ops(to_peer.get("floor")), 2),
                _slash([p99(m[t]) for t in ("compiled", PEER, "floor")]),
                _slash([slow(m[t]) for t in ("compiled", PEER, "floor")]),
                _slash([_gc(None if f is None else f.gc) for f in (m["compiled"], m["standard"])]),
                rest,
            ]
        )
    return rows


def gc_rows(out: Run) -> list[list[str]]:
    """Per scenario and gateway mode, each measured window's collector pauses (first client):
    the 20 ms point at concurrency 1, then each load level."""
    levels = [str(c) for c in out.settings.concurrency]
    head = ["scenario", "gateway", "@1 20 ms", *(f"@{c}" for c in levels)]
    rows = [head]
    results = next(iter(out.runs.values()), {})
    for name, row in results.items():
        for mode in out.settings.execution:
            m = row.measured.get(mode)
            if m is None or m.gc is None:
                continue
            windows = [m.latency_20ms.gc] + [
                None if m.load_0ms.get(c) is None else m.load_0ms[c].gc for c in levels
            ]
            rows.append([name, mode, *(_window(w) for w in windows)])
    return rows


def _window(w: GcWindow | None) -> str:
    """ "n / >10 ms / longest ms / CPU share" of one window."""
    if w is None:
        return "-"
    longest = ("" if w.longest_exact else "<=") + _f(w.longest_ms)
    share = "-" if w.cpu_share is None else f"{w.cpu_share:.0%}"
    return f"{w.collections}/{w.over_10ms}/{longest}/{share}"


def rss_line(out: Run) -> str:
    if not out.peak_rss_mb:
        return ""
    peaks = ", ".join(f"{t} {v:.0f}" for t, v in out.peak_rss_mb.items())
    return f"peak RSS MiB of each process through the whole run (VmHWM): {peaks}"


def goal_rows(lines: list[GoalLine]) -> list[list[str]]:
    rows = [["scenario", "goal (issue #18)", "figure", "limit", "verdict"]]
    for g in lines:
        verdict = g.verdict + (f" ({g.note})" if g.note else "")
        figure = "-" if g.figure is None else f"{g.figure:g}"
        rows.append([g.scenario, g.goal, figure, f"{g.op} {g.limit:g}", verdict])
    return rows


def peer_warnings(out: Run) -> list[str]:
    lines: list[str] = []
    if out.peer is not None and not out.peer.ran:
        lines.append(f"note: the peer (Hive Gateway) did not run: {out.peer.reason}")
    for client, results in out.runs.items():
        for name, row in results.items():
            for target, m in row.measured.items():
                if m.same_data_as_rest is False:
                    lines.append(
                        f"WARNING [{client}] {name}: {target}'s answer differs from the REST "
                        f"data: {'; '.join(m.data_diff or [])[:600]}"
                    )
            peer = row.measured.get(PEER)
            if peer is not None and peer.same_data_as_floor is False:
                lines.append(f"WARNING [{client}] {name}: the peer's data differs from the floor's")
    return lines
