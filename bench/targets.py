"""The figures derived from measurements: what the gateway's counters say about a window
(`execution_figures`), ratios between two processes (`ratios`), and the compiled-execution
issue's targets evaluated from one run (`targets`)."""

from __future__ import annotations

from .load import Metrics, metric_sum
from .results import (
    ExecutionFigures,
    Figures,
    LatencyRatios,
    PointRatios,
    Ratios,
    ScenarioResult,
    Status,
    TargetLine,
)

__all__ = [
    "EXECUTION_MODES",
    "HEADLINE_CONCURRENCY",
    "execution_figures",
    "ratio",
    "ratios",
    "targets",
]

HEADLINE_CONCURRENCY = 16
EXECUTION_MODES = ("compiled", "standard")
"""`[server] execution` of the gateway: compiled plans (falling back to standard per operation
where unsupported) or graphql-core's standard execution for everything."""
OPERATIONS = "switchboard_operations_total"
PROJECTION_SECONDS = "switchboard_projection_seconds_total"
PROJECTED_FIELDS = "switchboard_projected_fields_total"

# The compiled-execution issue's targets, evaluated from one run (see `targets`).
OPS_PER_CPU_S_TO_FLOOR = {"screenpop": 0.5, "ivr": 0.6, "supervisor-100": 0.5}
"""ops/CPU-s of the compiled gateway >= this x the floor's."""
PROJECTION_US_PER_FIELD = {"supervisor-1000": 1.0}
"""The compiled projection's microseconds per projected field <= this."""
P99_TO_STANDARD = 0.5
"""p99 at concurrency 16, compiled <= this x standard, every scenario."""


def execution_figures(delta: Metrics | None, requests: int) -> ExecutionFigures:
    """What the gateway's counters say about `requests` measured operations: how many ran
    compiled, how many standard because it is configured, how many fell back (and why), and the
    compiled projection's cost per projected field. Figures are None without GET /metrics."""
    if delta is None:
        return ExecutionFigures(metrics=False, requests=requests)

    compiled = configured = fallbacks = 0.0
    reasons: dict[str, int] = {}
    for (name, labels), value in delta.items():
        label = dict(labels)
        if name != OPERATIONS or label.get("execution") not in EXECUTION_MODES:
            continue
        if label["execution"] == "compiled":
            compiled += value
        elif label.get("reason") == "configured":
            configured += value
        else:
            fallbacks += value
            if value:
                reason = label.get("reason", "")
                reasons[reason] = reasons.get(reason, 0) + round(value)
    operations = metric_sum(delta, OPERATIONS)
    seconds = metric_sum(delta, PROJECTION_SECONDS)
    fields = metric_sum(delta, PROJECTED_FIELDS)
    return ExecutionFigures(
        metrics=True,
        requests=requests,
        operations=round(operations),
        compiled=round(compiled),
        standard_configured=round(configured),
        fallbacks=round(fallbacks),
        fallback_reasons=reasons,
        fallback_rate=round(fallbacks / operations, 4) if operations else None,
        projection_s=round(seconds, 6),
        projected_fields=round(fields),
        projection_us_per_field=round(seconds * 1e6 / fields, 4) if fields else None,
    )


def ratio(gateway: float | None, floor: float | None, digits: int = 2) -> float | None:
    if gateway is None or not floor:
        return None
    return round(gateway / floor, digits)


def ratios(gateway: Figures, floor: Figures) -> Ratios:
    """gateway / floor for every figure (ops per CPU-second: below 1 means costlier)."""
    return Ratios(
        calls_per_op=ratio(gateway.calls_per_op, floor.calls_per_op),
        ops_per_cpu_s=ratio(gateway.ops_per_cpu_s, floor.ops_per_cpu_s),
        cpu_ms_per_op=ratio(gateway.cpu_ms_per_op, floor.cpu_ms_per_op),
        cpu_ms_per_backend_call=ratio(
            gateway.cpu_ms_per_backend_call, floor.cpu_ms_per_backend_call
        ),
        us_per_field=ratio(gateway.us_per_field, floor.us_per_field),
        peak_rss_mb=ratio(gateway.peak_rss_mb, floor.peak_rss_mb),
        latency_20ms=LatencyRatios(
            p50_ms=ratio(gateway.latency_20ms.p50_ms, floor.latency_20ms.p50_ms),
            p99_ms=ratio(gateway.latency_20ms.p99_ms, floor.latency_20ms.p99_ms),
        ),
        load_0ms={
            c: PointRatios(
                rps=ratio(point.rps, floor.load_0ms[c].rps),
                p99_ms=ratio(point.p99_ms, floor.load_0ms[c].p99_ms),
                ops_per_cpu_s=ratio(point.ops_per_cpu_s, floor.load_0ms[c].ops_per_cpu_s),
                cpu_ms_per_op=ratio(point.cpu_ms_per_op, floor.load_0ms[c].cpu_ms_per_op),
            )
            for c, point in gateway.load_0ms.items()
        },
    )


def targets(runs: dict[str, dict[str, ScenarioResult]]) -> list[TargetLine]:
    """The compiled-execution issue's targets, each from this run's figures (by client, then
    scenario): the figure, the limit, and met / missed (or "not measured" with why, when this
    run has no such figure)."""
    return [line for client, results in runs.items() for line in _targets(client, results)]


def _targets(client: str, results: dict[str, ScenarioResult]) -> list[TargetLine]:
    lines: list[TargetLine] = []

    def line(
        scenario: str,
        what: str,
        figure: float | None,
        op: str,
        limit: float,
        missing: str | None = None,
        note: str | None = None,
    ) -> None:
        status: Status
        if scenario not in results:
            figure, missing = None, "scenario not run"
        if figure is None:
            status = "not measured"
            note = missing or note
        elif op == "<=":
            status = "met" if figure <= limit else "missed"
        elif op == ">=":
            status = "met" if figure >= limit else "missed"
        else:
            status = "met" if figure == limit else "missed"
        lines.append(TargetLine(client, scenario, what, figure, op, limit, status, note))

    def measured(scenario: str, target: str) -> Figures | None:
        result = results.get(scenario)
        return None if result is None else result.measured.get(target)

    def compiled_execution(scenario: str) -> tuple[ExecutionFigures | None, str]:
        """The compiled mode's counters over the scenario, or why there are none."""
        compiled = measured(scenario, "compiled")
        if compiled is None:
            return None, "compiled mode not run"
        if compiled.execution is None or not compiled.execution.metrics:
            return None, "no GET /metrics"
        return compiled.execution, ""

    for scenario, limit in OPS_PER_CPU_S_TO_FLOOR.items():
        compiled, floor = measured(scenario, "compiled"), measured(scenario, "floor")
        figure = ratio(
            None if compiled is None else compiled.ops_per_cpu_s,
            None if floor is None else floor.ops_per_cpu_s,
            3,
        )
        missing = (
            "compiled mode not run"
            if compiled is None
            else "floor not run"
            if floor is None
            else None
        )
        at_16 = all(
            m is None or m.headline_concurrency == HEADLINE_CONCURRENCY for m in (compiled, floor)
        )
        note = None if at_16 else f"not both at concurrency {HEADLINE_CONCURRENCY}"
        line(scenario, "ops/CPU-s compiled / floor", figure, ">=", limit, missing, note)
    for scenario, limit in PROJECTION_US_PER_FIELD.items():
        execution, missing = compiled_execution(scenario)
        figure = None if execution is None else execution.projection_us_per_field
        line(
            scenario,
            "projection us / projected field",
            figure,
            "<=",
            limit,
            missing or "nothing projected",
        )
    point = str(HEADLINE_CONCURRENCY)
    for scenario in results:
        compiled, standard = measured(scenario, "compiled"), measured(scenario, "standard")
        c = None if compiled is None else compiled.load_0ms.get(point)
        s = None if standard is None else standard.load_0ms.get(point)
        errors = any(p is not None and p.errors for p in (c, s))
        line(
            scenario,
            f"p99@{point} compiled / standard",
            ratio(None if c is None else c.p99_ms, None if s is None else s.p99_ms, 3),
            "<=",
            P99_TO_STANDARD,
            "both modes needed" if c is None or s is None else None,
            f"errors @{point}" if errors else None,
        )
    for scenario in results:
        execution, missing = compiled_execution(scenario)
        figure = None if execution is None else execution.fallback_rate
        line(
            scenario,
            "fallback rate (compiled)",
            figure,
            "==",
            0.0,
            missing or "no operations counted",
        )
    return lines
