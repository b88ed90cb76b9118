"""The benchmark harness end to end in its quick mode: the sandbox, the gateway in both execution
modes and the floor as processes on 127.0.0.1, one scenario. Checks the JSON's shape, the
back-end call counts (which are deterministic) and that every process answers the same data;
never a timing: performance is read from the harness, not asserted here. The JSON's keys are
read from the typed records of bench/results.py, not copied here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.cli import parse
from bench.load import metrics_delta, parse_metrics
from bench.results import (
    ExecutionFigures,
    Figures,
    GcWindow,
    Latency,
    LoadPoint,
    Ratios,
    Run,
    ScenarioResult,
    TargetLine,
    json_keys,
    to_json,
)
from bench.targets import execution_figures

ROOT = Path(__file__).resolve().parents[2]

MODES = ("compiled", "standard")


def test_quick_run_measures_both_modes_side_by_side_with_calls_at_the_optimum(
    tmp_path: Path,
) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for printed in ("side by side", "compiled/floor", "standard/floor", "targets"):
        assert printed in done.stdout
    assert "screenpop" in done.stdout

    results = json.loads(out.read_text())
    assert set(results) == json_keys(Run)
    assert results["settings"]["execution"] == list(MODES)
    assert results["optimum"] == {"screenpop": results["optimum"]["screenpop"]}  # quick: one
    assert results["optimum"]["screenpop"]["calls"] == 10
    [(client, runs)] = results["runs"].items()
    assert client in ("aiohttp", "httpx", "wire")
    row = runs["screenpop"]
    # each process under test, then the checks and ratios (all: both modes and the floor ran;
    # not the peer: no ratio to it)
    assert set(row) == {*MODES, "floor"} | json_keys(ScenarioResult) - {"ratio_to_peer"}
    # the floor and both modes answer exactly the same data
    assert row["same_data_as_floor"] is True
    assert row["same_data_as_standard"] is True
    assert set(row["ratio_to_floor"]) == set(MODES)

    for target in (*MODES, "floor"):
        figures = row[target]
        assert json_keys(Figures, always=True) <= set(figures) <= json_keys(Figures)
        assert "data" not in figures
        assert figures["errors_in_answer"] == 0
        assert figures["calls_per_op"] == figures["optimum_calls"] == 10
        assert figures["calls_at_optimum"] is True
        assert figures["latency_20ms"]["critical_path_ms"] == 60
        assert set(figures["load_0ms"]) == {"1", "16", "64"}
        for point in figures["load_0ms"].values():
            assert json_keys(LoadPoint, always=True) <= set(point) <= json_keys(LoadPoint)
        assert figures["fields_per_op"] > 100
        assert figures["peak_rss_mb"] > 0
    for mode in MODES:
        assert row[mode]["same_data_as_floor"] is True
        assert set(row["ratio_to_floor"][mode]) == json_keys(Ratios)
        assert set(row["ratio_to_floor"][mode]["load_0ms"]) == {"1", "16", "64"}
        execution = row[mode]["execution"]
        assert json_keys(ExecutionFigures, always=True) <= set(execution)
        assert set(execution) <= json_keys(ExecutionFigures)
        assert set(row[mode]["load_0ms"]["16"]["execution"]) >= json_keys(
            ExecutionFigures, always=True
        )
        if execution["metrics"]:  # the gateway serves GET /metrics: it ran in the mode asked
            assert execution["mode_confirmed"] is True
            assert execution["operations"] > 0
    assert "execution" not in row["floor"]

    targets = results["targets"]
    assert {(t["scenario"], t["target"]) for t in targets} >= {
        ("screenpop", "ops/CPU-s compiled / floor"),
        ("ivr", "ops/CPU-s compiled / floor"),
        ("supervisor-100", "ops/CPU-s compiled / floor"),
        ("supervisor-1000", "projection us / projected field"),
        ("screenpop", "p99@16 compiled / standard"),
        ("screenpop", "fallback rate (compiled)"),
    }
    for t in targets:
        assert set(t) == json_keys(TargetLine)
        assert t["status"] in ("met", "missed", "not measured")
        assert (t["figure"] is None) == (t["status"] == "not measured")
    by_name = {(t["scenario"], t["target"]): t for t in targets}
    assert by_name[("ivr", "ops/CPU-s compiled / floor")]["note"] == "scenario not run"
    assert by_name[("screenpop", "ops/CPU-s compiled / floor")]["figure"] is not None
    assert by_name[("screenpop", "p99@16 compiled / standard")]["figure"] is not None
    assert out.with_suffix(".md").read_text().count("| screenpop |") >= 2

    # issue #18: the peer is not run by --quick (said why), the gateways' collector pauses
    # per window, every process's peak RSS through the run, the goals evaluated
    assert results["peer"]["ran"] is False and "--quick" in results["peer"]["reason"]
    assert "did not run" in done.stdout and "goals (issue #18" in done.stdout
    assert "collector pauses per measured window" in done.stdout
    for mode in MODES:
        assert set(row[mode]["gc"]) == json_keys(GcWindow)
        assert set(row[mode]["load_0ms"]["16"]["gc"]) == json_keys(GcWindow)
    assert "gc" not in row["floor"]
    assert set(results["peak_rss_mb"]) == {*MODES, "floor"}
    assert row["compiled"]["same_data_as_rest"] is True
    assert row["floor"]["same_data_as_rest"] is True
    verdicts = {(g["scenario"], g["goal"]): g["verdict"] for g in results["goals"]}
    assert verdicts[("screenpop", "ops/CPU-s compiled / Hive")] == "not measured"
    assert verdicts[("screenpop", "p99 / p50 @1, 20 ms back-ends (compiled)")] in ("PASS", "MISS")


def test_quick_defaults_to_screenpop_and_both_modes() -> None:
    quick = parse(["--quick"])
    assert quick.scenarios == ["screenpop"] and quick.execution == list(MODES)
    assert parse([]).scenarios[0] == "screenpop" and len(parse([]).scenarios) == 5
    one = parse(["--quick", "--scenarios", "ivr", "--execution", "standard", "standard"])
    assert one.scenarios == ["ivr"] and one.execution == ["standard"]


EXPOSITION = """# HELP switchboard_operations_total GraphQL operations executed
# TYPE switchboard_operations_total counter
switchboard_operations_total{execution="compiled",reason=""} %d.0
switchboard_operations_total{execution="standard",reason="introspection"} %d.0
switchboard_operations_created{execution="compiled",reason=""} 1.7e+09
# TYPE switchboard_projection_seconds_total counter
switchboard_projection_seconds_total %s
switchboard_projected_fields_total %d.0
a line that is not a sample
"""


def test_the_metrics_of_a_measured_window_give_the_fallback_rate_and_projection_cost() -> None:
    before = parse_metrics(EXPOSITION % (10, 1, "0.5", 100_000))
    after = parse_metrics(EXPOSITION % (40, 11, "0.53", 130_000))
    figures = execution_figures(metrics_delta(before, after), 40)
    assert figures.metrics is True and figures.requests == 40
    assert figures.operations == 40
    assert figures.compiled == 30 and figures.fallbacks == 10
    assert figures.standard_configured == 0
    assert figures.fallback_reasons == {"introspection": 10}
    assert figures.fallback_rate == 0.25
    assert figures.projected_fields == 30_000
    assert figures.projection_us_per_field is not None
    assert abs(figures.projection_us_per_field - 1.0) < 1e-6

    no_endpoint = execution_figures(metrics_delta(before, None), 40)
    assert no_endpoint.metrics is False and no_endpoint.fallback_rate is None


def test_the_json_leaves_out_only_the_figures_a_process_does_not_have() -> None:
    """The floor has no counters (`execution` left out), a figure not measured is null (kept),
    the processes under test are a scenario's own keys, and the answers compared are not
    written."""
    point = LoadPoint(
        requests=10,
        errors=0,
        rps=5.0,
        p50_ms=1.0,
        p99_ms=2.0,
        mean_ms=None,
        ops_per_cpu_s=None,
        cpu_ms_per_op=None,
        sandbox_cpu_ms_per_op=None,
    )
    floor = Figures(
        errors_in_answer=0,
        fields_per_op=3,
        calls_per_op=1.0,
        calls_by_route={"crm GET /customers": 1.0},
        optimum_calls=1,
        calls_at_optimum=True,
        latency_20ms=Latency(p50_ms=21.0, p99_ms=22.0, requests=5, errors=0, critical_path_ms=20),
        load_0ms={"1": point},
        headline_concurrency=1,
        ops_per_cpu_s=None,
        cpu_ms_per_op=None,
        cpu_ms_per_backend_call=None,
        us_per_field=None,
        peak_rss_mb=70.0,
        data={"customer": {"id": "c1"}},
    )
    written = json.loads(json.dumps(to_json(ScenarioResult(measured={"floor": floor}))))
    assert set(written) == {"floor", "same_data_as_standard"}
    assert written["same_data_as_standard"] is None
    row = written["floor"]
    assert set(row) == json_keys(Figures, always=True)
    assert row["us_per_field"] is None and "execution" not in row and "data" not in row
    [(level, written_point)] = row["load_0ms"].items()
    assert level == "1" and written_point["mean_ms"] is None and written_point["rps"] == 5.0
    assert set(written_point) == json_keys(LoadPoint, always=True)  # no first_error, no execution
