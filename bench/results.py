"""What one run of the benchmark finds, as typed records: the harness builds them, the report
reads them, `to_json` writes them as the JSON file docs/performance.md describes
(bench/results/latest.json), and tests/bench reads that file's keys from these records.

A field left out of the JSON while None (`OMIT_NONE`) is a figure only some processes have: the
gateway's counters (`execution`) exist on the gateway, not on the floor; the checks against the
floor exist only when the floor ran."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Literal

__all__ = [
    "JSON",
    "ExecutionFigures",
    "FaultPhase",
    "Figures",
    "GcWindow",
    "GoalLine",
    "KindCount",
    "Latency",
    "LatencyRatios",
    "LoadPoint",
    "Machine",
    "Optimum",
    "PeerInfo",
    "PointRatios",
    "Ratios",
    "Run",
    "ScenarioResult",
    "Settings",
    "SoakResult",
    "TargetLine",
    "TransportCost",
    "json_keys",
    "to_json",
]

JSON = dict[str, "JSON"] | list["JSON"] | str | int | float | bool | None

OMIT_NONE = {"omit_none": True}
"""Field metadata: left out of the JSON while None."""
FLATTEN = {"flatten": True}
"""Field metadata: a dict whose entries are written as the record's own keys."""
NOT_IN_JSON = {"json": False}
"""Field metadata: kept for the comparisons, never written."""


@dataclass(frozen=True, slots=True)
class ExecutionFigures:
    """What the gateway's GET /metrics counted over measured operations (None without it)."""

    metrics: bool
    """Whether the gateway serves GET /metrics: every figure below is None without it."""
    requests: int
    operations: int | None = None
    compiled: int | None = None
    standard_configured: int | None = None
    fallbacks: int | None = None
    fallback_reasons: dict[str, int] | None = None
    fallback_rate: float | None = None
    projection_s: float | None = None
    projected_fields: int | None = None
    projection_us_per_field: float | None = None
    mode_confirmed: bool | None = field(default=None, metadata=OMIT_NONE)
    """The counters confirm the process ran in the mode it was started in (over the whole
    measurement of a scenario, when it has GET /metrics)."""


@dataclass(frozen=True, slots=True)
class GcWindow:
    """The gateway's collector pauses over measured windows (its GET /metrics:
    `switchboard_gc_pause_seconds` and `_max_seconds`, read before and after)."""

    collections: int
    over_10ms: int
    """Pauses longer than 10 ms (exact: the histogram has a 10 ms bucket)."""
    longest_ms: float
    longest_exact: bool
    """True when the longest pause set a new process maximum in the window (the gauge gives it
    exactly); otherwise `longest_ms` is an upper bound read from the buckets."""
    by_generation: dict[str, int] = field(default_factory=dict)
    """Collections per generation ("0", "1", "2")."""
    longest_generation: str | None = None
    cpu_ms: float | None = None
    """CPU the collector used in the window (`switchboard_gc_cpu_seconds_total`)."""
    process_cpu_ms: float | None = None
    """The process's CPU in the window."""
    cpu_share: float | None = None
    """`cpu_ms` over the process's CPU in the window: what collecting costs, whatever the
    host's load does to the wall-clock pauses."""


@dataclass(frozen=True, slots=True)
class LoadPoint:
    """One closed-loop load level with no sandbox latency (bench/load.py)."""

    requests: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float
    mean_ms: float | None
    ops_per_cpu_s: float | None
    cpu_ms_per_op: float | None
    sandbox_cpu_ms_per_op: float | None
    first_error: str | None = field(default=None, metadata=OMIT_NONE)
    execution: ExecutionFigures | None = field(default=None, metadata=OMIT_NONE)
    gc: GcWindow | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True, slots=True)
class Latency:
    """Concurrency 1 with every system answering after 20 ms, next to the critical path."""

    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    critical_path_ms: float
    execution: ExecutionFigures | None = field(default=None, metadata=OMIT_NONE)
    gc: GcWindow | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True, slots=True)
class Figures:
    """Every figure of one scenario on one process under test (a gateway mode or the floor)."""

    errors_in_answer: int
    fields_per_op: int
    calls_per_op: float
    calls_by_route: dict[str, float]
    optimum_calls: int
    calls_at_optimum: bool
    latency_20ms: Latency
    load_0ms: dict[str, LoadPoint]
    """By concurrency (as a string: the JSON's keys)."""
    headline_concurrency: int
    ops_per_cpu_s: float | None
    cpu_ms_per_op: float | None
    cpu_ms_per_backend_call: float | None
    us_per_field: float | None
    peak_rss_mb: float
    data: JSON = field(default=None, repr=False, metadata=NOT_IN_JSON)
    """The answer's `data`, compared between the processes."""
    execution: ExecutionFigures | None = field(default=None, metadata=OMIT_NONE)
    same_data_as_floor: bool | None = field(default=None, metadata=OMIT_NONE)
    gc: GcWindow | None = field(default=None, metadata=OMIT_NONE)
    """Over every measured window of the scenario (the worst pause, the counts summed)."""
    same_data_as_rest: bool | None = field(default=None, metadata=OMIT_NONE)
    """Scenarios the peer runs: the answer, normalised (bench/peer_check.py), equals the model
    built from the sandbox's REST data."""
    data_diff: list[str] | None = field(default=None, metadata=OMIT_NONE)
    """The first differences from that model, when there are some."""


@dataclass(frozen=True, slots=True)
class LatencyRatios:
    p50_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True, slots=True)
class PointRatios:
    rps: float | None
    p99_ms: float | None
    ops_per_cpu_s: float | None
    cpu_ms_per_op: float | None


@dataclass(frozen=True, slots=True)
class Ratios:
    """One process's figures over another's (ops per CPU-second: below 1 means costlier)."""

    calls_per_op: float | None
    ops_per_cpu_s: float | None
    cpu_ms_per_op: float | None
    cpu_ms_per_backend_call: float | None
    us_per_field: float | None
    peak_rss_mb: float | None
    latency_20ms: LatencyRatios
    load_0ms: dict[str, PointRatios]


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    """One scenario on every process under test, and the checks and ratios between them."""

    measured: dict[str, Figures] = field(metadata=FLATTEN)
    """By process under test: each gateway mode ("compiled", "standard") and "floor"."""
    ratio_to_floor: dict[str, Ratios] | None = field(default=None, metadata=OMIT_NONE)
    same_data_as_floor: bool | None = field(default=None, metadata=OMIT_NONE)
    same_data_as_standard: bool | None = None
    """None unless both modes ran."""
    same_field_order_as_standard: bool | None = field(default=None, metadata=OMIT_NONE)
    ratio_to_standard: Ratios | None = field(default=None, metadata=OMIT_NONE)
    ratio_to_peer: dict[str, Ratios] | None = field(default=None, metadata=OMIT_NONE)
    """Each other process under test / the peer (Hive Gateway), when it ran the scenario."""


Verdict = Literal["PASS", "MISS", "not measured"]


@dataclass(frozen=True, slots=True)
class GoalLine:
    """One goal of issue #18 (Performance III), evaluated from this run."""

    scenario: str
    goal: str
    figure: float | None
    op: str
    limit: float
    verdict: Verdict
    note: str | None


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """The peer (GraphQL Mesh + Hive Gateway, bench/peer.py): whether it ran, or why not."""

    ran: bool
    reason: str | None
    """Why it was skipped (no Node >= 20, npm ci failed, not asked...)."""
    versions: dict[str, str | None] = field(default_factory=dict)
    jwt: bool = False
    """It verified the bearer token against the sandbox's JWKS (`--peer-jwt`)."""


Status = Literal["met", "missed", "not measured"]


@dataclass(frozen=True, slots=True)
class TargetLine:
    """One target of the compiled-execution issue, evaluated from this run's figures."""

    client: str
    scenario: str
    target: str
    figure: float | None
    op: str
    limit: float
    status: Status
    note: str | None
    """Why it is not measured, or a caveat on the figure."""


@dataclass(frozen=True, slots=True)
class TransportCost:
    """The transport seam alone, in the benchmark's own process."""

    calls: int
    concurrency: int
    cpu_ms_per_call: float
    calls_per_cpu_s: float | None
    calls_per_s: float


@dataclass(frozen=True, slots=True)
class Machine:
    cores: int | None
    cpu: str
    python: str
    platform: str
    loadavg_at_start: list[float]
    packages: dict[str, str | None]
    loadavg_at_end: list[float] | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True, slots=True)
class Settings:
    seconds: float
    warmup: float
    concurrency: list[int]
    customers: int
    execution: list[str]
    sandbox_latency_ms: float
    headline_concurrency: int
    quick: bool


@dataclass(frozen=True, slots=True)
class Optimum:
    calls: int
    derivation: str


@dataclass(frozen=True, slots=True)
class Run:
    """A whole `python -m bench`: what it writes to bench/results/latest.json."""

    started: str
    machine: Machine
    settings: Settings
    optimum: dict[str, Optimum]
    transport: dict[str, TransportCost]
    """By HTTP client."""
    runs: dict[str, dict[str, ScenarioResult]]
    """By HTTP client, then scenario."""
    targets: list[TargetLine]
    peer: PeerInfo | None = field(default=None, metadata=OMIT_NONE)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    """VmHWM of each process under test at the end of the whole run (process tree, MiB)."""
    goals: list[GoalLine] = field(default_factory=list)
    """Issue #18's goals, PASS / MISS from this run."""


@dataclass(frozen=True, slots=True)
class FaultPhase:
    """A stretch of a mixed soak with one fault switched on in the sandbox."""

    at_s: float
    fault: str
    """"none", "core timeout", "knowledge garbage" or "ccaas 50% errors"."""


@dataclass(frozen=True, slots=True)
class KindCount:
    """What one kind of operation of a mixed soak got: answers with data and no error (ok),
    with data and errors (partial: a faulty system degrades its fields), and failures (not a
    200, or no data)."""

    ok: int = 0
    partial: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class SoakResult:
    """`python -m bench --soak SECONDS [--mix]`: what it writes to bench/results/soak.json."""

    machine: Machine
    client: str
    execution: str
    seconds: float
    concurrency: int
    requests: int
    errors: int
    ops_per_cpu_s: float | None
    rss_first_mb: float
    rss_last_mb: float
    rss_max_mb: float
    peak_rss_mb: float
    growth_pct: float
    flat_within_10pct: bool
    samples: list[tuple[float, float]]
    """(seconds since the start, RSS MiB)."""
    mix: bool = False
    growth_mb_per_min_last_half: float | None = None
    """The least-squares slope of RSS over the second half of the samples, MiB per minute."""
    by_kind: dict[str, KindCount] = field(default_factory=dict)
    phases: list[FaultPhase] = field(default_factory=list)
    gc: GcWindow | None = field(default=None, metadata=OMIT_NONE)
    """The gateway's collector pauses over the whole soak (its GET /metrics)."""
    goals: list[GoalLine] = field(default_factory=list)


def to_json(value: object) -> JSON:
    """A record (and what it holds) as JSON values, by the field metadata above."""
    if is_dataclass(value) and not isinstance(value, type):
        out: dict[str, JSON] = {}
        for f in fields(value):
            item = getattr(value, f.name)
            if f.metadata.get("json") is False or (item is None and f.metadata.get("omit_none")):
                continue
            if f.metadata.get("flatten"):
                out.update({str(k): to_json(v) for k, v in item.items()})
            else:
                out[f.name] = to_json(item)
        return out
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"not a JSON value: {value!r}")


def json_keys(record: type, *, always: bool = False) -> frozenset[str]:
    """The keys a record of this class may have in the JSON (with `always`: the keys it always
    has); flattened entries are not among them."""
    return frozenset(
        f.name
        for f in fields(record)
        if f.metadata.get("json") is not False
        and not f.metadata.get("flatten")
        and not (always and f.metadata.get("omit_none"))
    )
