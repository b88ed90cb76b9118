"""What `python -m bench` prints and writes next to the JSON: the tables (`table`), the same as
Markdown for docs/performance.md (`markdown`), and the warnings a reader must not miss."""

from __future__ import annotations

from collections.abc import Callable

from .harness import PEER
from .peer_report import gc_rows, goal_rows, peer_rows, peer_warnings, rss_line
from .results import Figures, GoalLine, Ratios, Run, TargetLine
from .scenarios import SCENARIOS
from .targets import HEADLINE_CONCURRENCY

__all__ = ["fmt", "goal_text", "markdown", "table", "warnings"]

GC_TITLE = (
    "collector pauses per measured window (collections / over 10 ms / longest ms, '<=' a "
    "bucket's bound / the collector's share of the process's CPU)"
)


def fmt(value: object, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _pct(rate: float | None) -> str:
    if rate is None:
        return "-"
    if rate == 0:
        return "0"
    return f"{rate:.2%}" if rate < 0.01 else f"{rate:.0%}"


def _pair(a: object, b: object, digits: int = 1) -> str:
    return f"{fmt(a, digits)} / {fmt(b, digits)}"


def _targets_of(out: Run) -> list[str]:
    """The measured processes in table order: the gateway modes, the floor, the peer."""
    peer = any(PEER in row.measured for results in out.runs.values() for row in results.values())
    return [*out.settings.execution, "floor", *([PEER] if peer else [])]


def goal_text(goals: list[GoalLine]) -> str:
    """Issue #18's goals, aligned."""
    return "goals (issue #18, from this run)\n" + _align(goal_rows(goals), 2, last_left=True)


def _peer_blocks(out: Run) -> list[str]:
    blocks = []
    rows = peer_rows(out)
    if len(rows) > 1:
        blocks.append(
            "the peer side by side (issue #18; ratios of ops/CPU-s; GC: the longest pause in "
            "any measured window, '<=' a bucket's bound, (n) pauses over 10 ms, the collector's "
            "share of the process's CPU)\n" + _align(rows, 1)
        )
    gc = gc_rows(out)
    if len(gc) > 1:
        blocks.append(GC_TITLE + "\n" + _align(gc, 2))
    if out.peak_rss_mb:
        blocks.append(rss_line(out))
    if out.goals:
        blocks.append(goal_text(out.goals))
    return blocks


def _both(c: Figures | None, s: Figures | None, figure: Callable[[Figures], object]) -> str:
    """One figure of compiled and standard: "compiled / standard" ("-" where not measured)."""
    return _pair(None if c is None else figure(c), None if s is None else figure(s))


def _p99_at(m: Figures, concurrency: str) -> float | None:
    point = m.load_0ms.get(concurrency)
    return None if point is None else point.p99_ms


def _ops_ratio(ratios: dict[str, Ratios] | None, mode: str) -> float | None:
    r = (ratios or {}).get(mode)
    return None if r is None else r.ops_per_cpu_s


def side_by_side(out: Run, markdown: bool = False) -> list[list[str]]:
    """Per scenario, compiled and standard next to each other (each cell "compiled / standard";
    the projection and fallback figures are the compiled mode's)."""
    point = str(HEADLINE_CONCURRENCY)
    us = "µs" if markdown else "us"
    head = [
        "scenario",
        "calls/op (opt)",
        "p50 @20 ms",
        f"p99 @{point}",
        "ops/CPU-s",
        "floor ops/CPU-s",
        "x floor",
        f"{us}/field",
        f"proj {us}/field",
        "fallback",
    ]
    lines = [head]
    for client, results in out.runs.items():
        for name, row in results.items():
            c, s = row.measured.get("compiled"), row.measured.get("standard")
            floor = row.measured.get("floor")
            compiled_execution = None if c is None else c.execution
            lines.append(
                [
                    f"`{name}` ({client})" if markdown else f"{name} [{client}]",
                    f"{_both(c, s, lambda m: m.calls_per_op)} ({SCENARIOS[name].optimum_calls})",
                    _both(c, s, lambda m: m.latency_20ms.p50_ms),
                    _both(c, s, lambda m: _p99_at(m, point)),
                    _both(c, s, lambda m: m.ops_per_cpu_s),
                    fmt(None if floor is None else floor.ops_per_cpu_s),
                    _pair(
                        _ops_ratio(row.ratio_to_floor, "compiled"),
                        _ops_ratio(row.ratio_to_floor, "standard"),
                        2,
                    ),
                    _both(c, s, lambda m: m.us_per_field),
                    fmt(
                        None
                        if compiled_execution is None
                        else compiled_execution.projection_us_per_field,
                        3,
                    ),
                    _pct(None if compiled_execution is None else compiled_execution.fallback_rate),
                ]
            )
    return lines


def detail(out: Run) -> list[list[str]]:
    """Every figure: a row per process under test, then each mode / the floor."""
    concurrency = out.settings.concurrency
    head = ["scenario", "target", "calls/op", "opt", "p50@20", "p99@20", "crit"]
    for c in concurrency:
        head += [f"rps@{c}", f"p99@{c}"]
    head += ["ops/CPU-s", "CPU ms/op", "ms/call", "us/field", "RSS MiB"]
    lines: list[list[str]] = [head]
    for client, results in out.runs.items():
        for name, row in results.items():
            first = True
            for target in _targets_of(out):
                m = row.measured.get(target)
                if m is None:
                    continue
                cells = [
                    f"{name} [{client}]" if first else "",
                    target,
                    fmt(m.calls_per_op),
                    fmt(m.optimum_calls),
                    fmt(m.latency_20ms.p50_ms),
                    fmt(m.latency_20ms.p99_ms),
                    fmt(m.latency_20ms.critical_path_ms, 0),
                ]
                first = False
                for c in concurrency:
                    point = m.load_0ms[str(c)]
                    errors = f"!{point.errors}" if point.errors else ""
                    cells += [fmt(point.rps) + errors, fmt(point.p99_ms)]
                cells += [
                    fmt(m.ops_per_cpu_s),
                    fmt(m.cpu_ms_per_op, 2),
                    fmt(m.cpu_ms_per_backend_call, 3),
                    fmt(m.us_per_field, 2),
                    fmt(m.peak_rss_mb),
                ]
                lines.append(cells)
            for mode, r in (row.ratio_to_floor or {}).items():
                cells = [
                    "",
                    f"{mode}/floor",
                    fmt(r.calls_per_op, 2),
                    "",
                    fmt(r.latency_20ms.p50_ms, 2),
                    fmt(r.latency_20ms.p99_ms, 2),
                    "",
                ]
                for c in concurrency:
                    cells += [
                        fmt(r.load_0ms[str(c)].rps, 2),
                        fmt(r.load_0ms[str(c)].p99_ms, 2),
                    ]
                cells += [
                    fmt(r.ops_per_cpu_s, 2),
                    fmt(r.cpu_ms_per_op, 2),
                    fmt(r.cpu_ms_per_backend_call, 2),
                    fmt(r.us_per_field, 2),
                    fmt(r.peak_rss_mb, 2),
                ]
                lines.append(cells)
    return lines


def _figure(line: TargetLine) -> str:
    if line.target.startswith("fallback"):
        return _pct(line.figure)
    return fmt(line.figure, 3)


def _limit(line: TargetLine) -> str:
    if line.target.startswith("fallback"):
        return f"{line.op} {_pct(line.limit)}"
    return f"{line.op} {line.limit:g}"


def target_lines(out: Run) -> list[list[str]]:
    head = ["scenario", "target", "figure", "limit", "status"]
    lines = [head]
    clients = len(out.runs)
    for line in out.targets:
        status = line.status + (f" ({line.note})" if line.note else "")
        scenario = line.scenario + (f" [{line.client}]" if clients > 1 else "")
        lines.append([scenario, line.target, _figure(line), _limit(line), status])
    return lines


def _align(rows: list[list[str]], left: int, last_left: bool = False) -> str:
    """Columns padded to their widths: the first `left` (and with `last_left` the last) to the
    left, the figures to the right."""
    widths = [max(len(x) for x in col) for col in zip(*rows, strict=True)]
    n = len(widths)
    return "\n".join(
        "  ".join(
            c.ljust(w) if i < left or (last_left and i == n - 1) else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in rows
    )


def table(out: Run) -> str:
    """What `python -m bench` prints: the modes side by side, every figure, the targets."""
    return "\n\n".join(
        [
            "compiled / standard side by side (projection and fallback: compiled)\n"
            + _align(side_by_side(out), 1),
            "every figure\n" + _align(detail(out), 2),
            "targets (compiled execution, from this run)\n"
            + _align(target_lines(out), 2, last_left=True),
            *_peer_blocks(out),
        ]
    )


def _md(rows: list[list[str]]) -> list[str]:
    head, *body = rows
    return [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(cells) + " |" for cells in body),
    ]


def markdown(out: Run) -> str:
    """The tables for docs/performance.md: the modes side by side, every figure (a row per
    process under test and per mode / floor), and the targets."""
    concurrency = out.settings.concurrency
    head = ["scenario", "", "calls/op (optimum)", "p50 / p99 @20 ms (critical path)"]
    head += [f"rps / p99 ms @{c}" for c in concurrency]
    head += ["**ops/CPU-s**", "CPU ms/call", "µs/field", "peak RSS MiB"]
    rows = [head]
    for client, results in out.runs.items():
        for name, row in results.items():
            first = True
            for target in _targets_of(out):
                m = row.measured.get(target)
                if m is None:
                    continue
                slow = m.latency_20ms
                cells = [
                    f"`{name}` ({client})" if first else "",
                    target,
                    f"{fmt(m.calls_per_op)} ({m.optimum_calls})",
                    f"{fmt(slow.p50_ms)} / {fmt(slow.p99_ms)} ({fmt(slow.critical_path_ms, 0)})",
                ]
                first = False
                for c in concurrency:
                    point = m.load_0ms[str(c)]
                    errors = f" ({point.errors} err)" if point.errors else ""
                    cells.append(f"{fmt(point.rps)} / {fmt(point.p99_ms, 0)}{errors}")
                cells += [
                    f"**{fmt(m.ops_per_cpu_s)}**"
                    + ("" if m.headline_concurrency == HEADLINE_CONCURRENCY else " (@1)"),
                    fmt(m.cpu_ms_per_backend_call, 2),
                    fmt(m.us_per_field),
                    fmt(m.peak_rss_mb, 0),
                ]
                rows.append(cells)
            for mode, r in (row.ratio_to_floor or {}).items():
                cells = [
                    "",
                    f"{mode} / floor",
                    fmt(r.calls_per_op, 2),
                    f"{fmt(r.latency_20ms.p50_ms, 2)} / {fmt(r.latency_20ms.p99_ms, 2)}",
                ]
                cells += [
                    f"{fmt(r.load_0ms[str(c)].rps, 2)} / {fmt(r.load_0ms[str(c)].p99_ms, 2)}"
                    for c in concurrency
                ]
                cells += [
                    f"**{fmt(r.ops_per_cpu_s, 2)}**",
                    fmt(r.cpu_ms_per_backend_call, 2),
                    fmt(r.us_per_field, 2),
                    fmt(r.peak_rss_mb, 2),
                ]
                rows.append(cells)
    targets_rows = [[c.replace(" us ", " µs ") for c in r] for r in target_lines(out)]
    parts = [
        "Compiled / standard side by side (each cell: compiled / standard; projection and "
        "fallback: the compiled mode's)",
        "",
        *_md(side_by_side(out, markdown=True)),
        "",
        "Every figure",
        "",
        *_md(rows),
        "",
        "Targets (compiled execution, from this run)",
        "",
        *_md(targets_rows),
    ]
    rows = peer_rows(out)
    if len(rows) > 1:
        parts += ["", "The peer side by side (issue #18)", "", *_md(rows)]
    gc = gc_rows(out)
    if len(gc) > 1:
        parts += ["", GC_TITLE, "", *_md(gc)]
    if out.peak_rss_mb:
        parts += ["", rss_line(out)]
    if out.goals:
        parts += ["", "Goals (issue #18, from this run)", "", *_md(goal_rows(out.goals))]
    return "\n".join(parts) + "\n"


def warnings(out: Run) -> list[str]:
    """What a reader of the tables must not miss: different answers, calls off the optimum, a
    gateway not in the mode it was started in, figures missing for want of GET /metrics."""
    lines: list[str] = []
    no_metrics: set[str] = set()
    for client, results in out.runs.items():
        for name, row in results.items():
            where = f"[{client}] {name}"
            if row.same_data_as_standard is False:
                lines.append(f"WARNING {where}: compiled and standard return different data")
            elif row.same_field_order_as_standard is False:
                lines.append(f"WARNING {where}: compiled orders fields unlike standard")
            for mode in out.settings.execution:
                m = row.measured[mode]
                if m.same_data_as_floor is False:
                    lines.append(f"WARNING {where}: the floor's data differs from {mode}'s")
                if not m.calls_at_optimum:
                    lines.append(
                        f"WARNING {where} ({mode}): back-end calls {m.calls_by_route} "
                        "differ from the optimum"
                    )
                execution = m.execution
                if execution is None or not execution.metrics:
                    no_metrics.add(mode)
                    continue
                if execution.mode_confirmed is False:
                    lines.append(
                        f"WARNING {where}: the {mode} gateway's counters do not confirm its mode "
                        f"({execution.operations} operations: {execution.compiled} "
                        f"compiled, {execution.standard_configured} standard as configured, "
                        f"{execution.fallbacks} fallbacks)"
                    )
                if mode == "compiled" and execution.fallbacks:
                    lines.append(
                        f"note {where}: compiled fell back to standard for "
                        f"{execution.fallbacks} of {execution.operations} operations "
                        f"(reasons: {execution.fallback_reasons})"
                    )
    if no_metrics:
        lines.append(
            f"note: no GET /metrics on the gateway ({', '.join(sorted(no_metrics))}): "
            "projection and fallback figures are '-'"
        )
    return lines + peer_warnings(out)
