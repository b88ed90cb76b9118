"""What one `python -m bench.events` finds, as typed records (written with bench/results.py's
`to_json` to bench/results/events.json), the goals of issue #14 evaluated from them, and the
tables it prints (and writes as Markdown next to the JSON)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .report import _align, _md, fmt
from .results import Machine, Status

__all__ = [
    "EVENTS",
    "EventFigures",
    "EventsRun",
    "EventsSettings",
    "Goal",
    "Memory",
    "Point",
    "goals",
    "markdown",
    "percentile",
    "table",
]

EVENTS = ("OFFERED", "CONNECTED", "VERIFIED", "ENDED")
"""The frames of one simulated call, in order (ENDED measured, no goal)."""
CONNECTED_P95_MS = {"one process": 10.0, "two replicas": 25.0}
LOST_ALLOWED = 0.05
"""A p95 goal counts a lost frame as infinitely late: more than 5% lost misses it."""


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest rank, as bench/load.py computes its percentiles."""
    ordered = sorted(values)
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    value = ordered[index]
    return None if math.isinf(value) else round(value, 1)


@dataclass(frozen=True, slots=True)
class EventFigures:
    """One kind of frame at one point: webhook handed to the gateway -> the frame received."""

    expected: int
    received: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    errors_per_frame: float | None
    """GraphQL `errors` entries per frame (fields the agent role may not see, masked)."""
    error_codes: list[str]
    backend_calls: int | None
    """Calls the sandbox served for this one event (the warm-up call of the point: every
    subscriber's re-read included), from its counters."""
    calls_by_route: dict[str, int]


@dataclass(frozen=True, slots=True)
class Point:
    """One deployment with N agents subscribed, `calls` simulated calls measured."""

    deployment: str
    agents: int
    calls: int
    calls_per_s: float
    webhooks_per_s: float
    events: dict[str, EventFigures]
    webhook_ack_p50_ms: float | None
    """POST handed over -> its 204 (the gateway answers once the event is published)."""
    webhook_ack_p95_ms: float | None
    schedule_slips: int
    """Events posted late because the previous frame had not arrived by its slot."""
    misrouted_frames: int
    """Frames that reached an agent other than the call's: must be 0."""
    subscriptions_ended: int
    """Subscriptions that ended (error/complete/closed) during the point: must be 0."""
    gateway_cpu_pct: dict[str, float]
    """CPU of each gateway process over the measured calls, % of one core."""
    gateway_cpu_ms_per_call: dict[str, float]
    sandbox_cpu_pct: float


@dataclass(frozen=True, slots=True)
class Memory:
    """RSS of the one-process gateway with N idle subscriptions (no call in between)."""

    baseline_rss_mb: float
    """With one subscription, after one call warmed up every code path."""
    rss_mb: dict[str, float]
    """By N."""
    kib_per_subscriber: dict[str, float]
    """(RSS with N - baseline) / (N - 1)."""


@dataclass(frozen=True, slots=True)
class Goal:
    deployment: str
    agents: int
    goal: str
    figure: float | None
    op: str
    limit: float | None
    status: Status | str
    note: str | None


@dataclass(frozen=True, slots=True)
class EventsSettings:
    customers: int
    agents: list[int]
    deployments: list[str]
    calls: int
    gap_ms: int
    sandbox_latency_ms: float
    hydration_levels: int
    critical_path_ms: float
    derivation: str
    document: str
    interval: str
    quick: bool


@dataclass(frozen=True, slots=True)
class EventsRun:
    started: str
    machine: Machine
    settings: EventsSettings
    points: list[Point]
    memory: Memory | None
    goals: list[Goal]


def goals(points: list[Point], memory: Memory | None, critical_path_ms: float) -> list[Goal]:
    """The issue's goals from this run's points: OFFERED (the full context) p95 <= the
    hydration's critical path + 20 ms; CONNECTED p95 <= 10 ms in one process, 25 across
    replicas; memory per idle subscriber reported."""
    lines: list[Goal] = []
    for point in points:
        for event, limit in (
            ("OFFERED", critical_path_ms + 20.0),
            ("CONNECTED", CONNECTED_P95_MS[point.deployment]),
        ):
            figures = point.events[event]
            lost = figures.expected - figures.received
            note = f"{lost} of {figures.expected} frames lost" if lost else None
            status: Status
            if figures.p95_ms is None:
                status = "not measured" if not figures.expected else "missed"
            elif lost > LOST_ALLOWED * figures.expected or figures.p95_ms > limit:
                status = "missed"
            else:
                status = "met"
            what = f"{event} p95 ms"
            lines.append(
                Goal(
                    point.deployment, point.agents, what, figures.p95_ms, "<=", limit, status, note
                )
            )
    if memory is not None:
        for n, kib in memory.kib_per_subscriber.items():
            lines.append(
                Goal(
                    "one process",
                    int(n),
                    "KiB per idle subscriber",
                    kib,
                    "",
                    None,
                    "reported",
                    None,
                )
            )
    return lines


def rows(run: EventsRun) -> list[list[str]]:
    head = ["deployment", "agents", "frame", "recv/exp", "p50 ms", "p95 ms", "p99 ms", "max ms"]
    head += ["errors/frame", "calls/event", "gateway CPU %", "calls/s", "ack p50 ms"]
    out = [head]
    for p in run.points:
        for i, event in enumerate(EVENTS):
            f = p.events[event]
            first = i == 0
            cpu = " + ".join(f"{v:.0f}" for v in p.gateway_cpu_pct.values())
            out.append(
                [
                    p.deployment if first else "",
                    str(p.agents) if first else "",
                    event,
                    f"{f.received}/{f.expected}",
                    fmt(f.p50_ms),
                    fmt(f.p95_ms),
                    fmt(f.p99_ms),
                    fmt(f.max_ms),
                    fmt(f.errors_per_frame),
                    fmt(f.backend_calls),
                    cpu if first else "",
                    fmt(p.calls_per_s, 2) if first else "",
                    fmt(p.webhook_ack_p50_ms) if first else "",
                ]
            )
    return out


def memory_rows(memory: Memory) -> list[list[str]]:
    out = [["idle subscriptions", "gateway RSS MiB", "KiB per idle subscriber"]]
    out.append(["1 (baseline)", fmt(memory.baseline_rss_mb), "-"])
    for n, rss in memory.rss_mb.items():
        out.append([n, fmt(rss), fmt(memory.kib_per_subscriber[n])])
    return out


def goal_rows(run: EventsRun) -> list[list[str]]:
    out = [["deployment", "agents", "goal", "figure", "limit", "status", "note"]]
    for g in run.goals:
        limit = "-" if g.limit is None else f"{g.op} {g.limit:g}"
        out.append(
            [g.deployment, str(g.agents), g.goal, fmt(g.figure), limit, g.status, g.note or ""]
        )
    return out


def _header(run: EventsRun) -> str:
    s = run.settings
    return (
        f"webhook -> frame at {s.sandbox_latency_ms:g} ms per back-end call; {s.calls} calls per "
        f"point, one event every {s.gap_ms} ms; OFFERED critical path {s.critical_path_ms:g} ms "
        f"({s.hydration_levels} dependent levels)"
    )


def table(run: EventsRun) -> str:
    blocks = [_header(run) + "\n" + _align(rows(run), 3)]
    if run.memory is not None:
        blocks.append("memory (one process)\n" + _align(memory_rows(run.memory), 1))
    blocks.append("goals (issue #14, from this run)\n" + _align(goal_rows(run), 3, last_left=True))
    return "\n\n".join(blocks)


def markdown(run: EventsRun) -> str:
    parts = [_header(run), "", *_md(rows(run))]
    if run.memory is not None:
        parts += ["", *_md(memory_rows(run.memory))]
    parts += ["", *_md(goal_rows(run))]
    return "\n".join(parts) + "\n"
