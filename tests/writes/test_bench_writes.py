"""`python -m bench.writes` keeps working (tiny numbers: a smoke test, not a measurement)."""

from __future__ import annotations

import pytest

from bench.writes import main


def test_the_writes_bench_runs_and_counts_every_write_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--writes", "20", "--pending", "30", "--outage-seconds", "0.1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("sqlite") and "(30 CRM records)" in line for line in lines)
    assert any(line.startswith("redis") and "(30 CRM records)" in line for line in lines)
