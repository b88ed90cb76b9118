"""The benchmark harness end to end in its quick mode: the sandbox, the gateway and the floor as
processes on 127.0.0.1, one scenario. Checks the JSON's shape and the back-end call counts (which
are deterministic); never a timing: performance is read from the harness, not asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FIGURES = {
    "calls_per_op",
    "calls_by_route",
    "optimum_calls",
    "calls_at_optimum",
    "latency_20ms",
    "load_0ms",
    "headline_concurrency",
    "ops_per_cpu_s",
    "cpu_ms_per_op",
    "cpu_ms_per_backend_call",
    "fields_per_op",
    "us_per_field",
    "peak_rss_mb",
}


def test_quick_run_reports_every_figure_with_calls_at_the_optimum(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--scenarios", "screenpop", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "screenpop" in done.stdout and "gw/floor" in done.stdout

    results = json.loads(out.read_text())
    assert {"machine", "settings", "optimum", "runs"} <= set(results)
    assert results["optimum"]["screenpop"]["calls"] == 9
    [(client, runs)] = results["runs"].items()
    assert client in ("aiohttp", "httpx")
    row = runs["screenpop"]
    assert {"gateway", "floor", "ratio_to_floor", "same_data_as_floor"} <= set(row)
    assert row["same_data_as_floor"] is True  # the floor answers exactly what the gateway does

    for target in ("gateway", "floor"):
        figures = row[target]
        assert set(figures) >= FIGURES
        assert figures["errors_in_answer"] == 0
        assert figures["calls_per_op"] == figures["optimum_calls"] == 9
        assert figures["calls_at_optimum"] is True
        assert figures["latency_20ms"]["critical_path_ms"] == 60
        assert set(figures["load_0ms"]) == {"1", "16", "64"}
        for point in figures["load_0ms"].values():
            assert {"rps", "p50_ms", "p99_ms", "ops_per_cpu_s", "errors"} <= set(point)
        assert figures["fields_per_op"] > 100
        assert figures["peak_rss_mb"] > 0
    assert set(row["ratio_to_floor"]["load_0ms"]) == {"1", "16", "64"}
