"""The figures derived from measurements: what the gateway's counters say about a window
(`execution_figures`), ratios between two processes (`ratios`), and the compiled-execution
issue's targets evaluated from one run (`targets`)."""

from __future__ import annotations

from typing import Any

from .load import Metrics, metric_sum

__all__ = [
    "EXECUTION_MODES",
    "HEADLINE_CONCURRENCY",
    "dig",
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


def execution_figures(delta: Metrics | None, requests: int) -> dict[str, Any]:
    """What the gateway's counters say about `requests` measured operations: how many ran
    compiled, how many standard because it is configured, how many fell back (and why), and the
    compiled projection's cost per projected field. Figures are None without GET /metrics."""
    out: dict[str, Any] = {"metrics": delta is not None, "requests": requests}
    if delta is None:
        return {
            **out,
            **dict.fromkeys(
                (
                    "operations",
                    "compiled",
                    "standard_configured",
                    "fallbacks",
                    "fallback_reasons",
                    "fallback_rate",
                    "projection_s",
                    "projected_fields",
                    "projection_us_per_field",
                )
            ),
        }

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
    return {
        **out,
        "operations": round(operations),
        "compiled": round(compiled),
        "standard_configured": round(configured),
        "fallbacks": round(fallbacks),
        "fallback_reasons": reasons,
        "fallback_rate": round(fallbacks / operations, 4) if operations else None,
        "projection_s": round(seconds, 6),
        "projected_fields": round(fields),
        "projection_us_per_field": round(seconds * 1e6 / fields, 4) if fields else None,
    }


def ratio(gateway: Any, floor: Any, digits: int = 2) -> float | None:
    if not isinstance(gateway, int | float) or not isinstance(floor, int | float) or not floor:
        return None
    return round(gateway / floor, digits)


def ratios(gateway: dict[str, Any], floor: dict[str, Any]) -> dict[str, Any]:
    """gateway / floor for every figure (ops per CPU-second: below 1 means costlier)."""
    out: dict[str, Any] = {}
    for key in (
        "calls_per_op",
        "ops_per_cpu_s",
        "cpu_ms_per_op",
        "cpu_ms_per_backend_call",
        "us_per_field",
        "peak_rss_mb",
    ):
        out[key] = ratio(gateway[key], floor[key])
    out["latency_20ms"] = {
        k: ratio(gateway["latency_20ms"][k], floor["latency_20ms"][k]) for k in ("p50_ms", "p99_ms")
    }
    out["load_0ms"] = {
        c: {
            k: ratio(row[k], floor["load_0ms"][c][k])
            for k in ("rps", "p99_ms", "ops_per_cpu_s", "cpu_ms_per_op")
        }
        for c, row in gateway["load_0ms"].items()
    }
    return out


def targets(out: dict[str, Any]) -> list[dict[str, Any]]:
    """The compiled-execution issue's targets, each from this run's figures: the figure, the
    limit, and met / missed (or "not measured" with why, when this run has no such figure)."""
    return [line for client, results in out["runs"].items() for line in _targets(client, results)]


def _targets(client: str, results: dict[str, Any]) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []

    def line(
        scenario: str,
        what: str,
        figure: Any,
        op: str,
        limit: float,
        missing: str | None = None,
        note: str | None = None,
    ) -> None:
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
        lines.append(
            {
                "client": client,
                "scenario": scenario,
                "target": what,
                "figure": figure,
                "op": op,
                "limit": limit,
                "status": status,
                "note": note,
            }
        )

    def get(scenario: str, *path: str) -> Any:
        return dig(results.get(scenario), *path)

    for scenario, limit in OPS_PER_CPU_S_TO_FLOOR.items():
        figure = ratio(
            get(scenario, "compiled", "ops_per_cpu_s"), get(scenario, "floor", "ops_per_cpu_s"), 3
        )
        missing = (
            "compiled mode not run"
            if get(scenario, "compiled") is None
            else "floor not run"
            if get(scenario, "floor") is None
            else None
        )
        at = [get(scenario, t, "headline_concurrency") for t in ("compiled", "floor")]
        at_16 = all(c in (None, HEADLINE_CONCURRENCY) for c in at)
        note = None if at_16 else f"not both at concurrency {HEADLINE_CONCURRENCY}"
        line(scenario, "ops/CPU-s compiled / floor", figure, ">=", limit, missing, note)
    for scenario, limit in PROJECTION_US_PER_FIELD.items():
        figure = get(scenario, "compiled", "execution", "projection_us_per_field")
        missing = (
            "compiled mode not run"
            if get(scenario, "compiled") is None
            else "no GET /metrics"
            if not get(scenario, "compiled", "execution", "metrics")
            else "nothing projected"
        )
        line(scenario, "projection us / projected field", figure, "<=", limit, missing)
    point = str(HEADLINE_CONCURRENCY)
    for scenario in results:
        c = get(scenario, "compiled", "load_0ms", point)
        s = get(scenario, "standard", "load_0ms", point)
        errors = any(p and p["errors"] for p in (c, s))
        line(
            scenario,
            f"p99@{point} compiled / standard",
            ratio(c and c["p99_ms"], s and s["p99_ms"], 3),
            "<=",
            P99_TO_STANDARD,
            "both modes needed" if c is None or s is None else None,
            f"errors @{point}" if errors else None,
        )
    for scenario in results:
        figure = get(scenario, "compiled", "execution", "fallback_rate")
        missing = (
            "compiled mode not run"
            if get(scenario, "compiled") is None
            else "no GET /metrics"
            if not get(scenario, "compiled", "execution", "metrics")
            else "no operations counted"
        )
        line(scenario, "fallback rate (compiled)", figure, "==", 0.0, missing)
    return lines


def dig(row: dict[str, Any] | None, *path: str) -> Any:
    value: Any = row
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value
