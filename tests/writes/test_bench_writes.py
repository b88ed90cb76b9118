"""`python -m bench.writes` keeps working (tiny numbers: a smoke test, not a measurement)."""

from __future__ import annotations

import pytest

from bench.writes import main


def test_the_writes_bench_runs_and_counts_every_write_and_mutation_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The direct path and the drain on both stores, then `recordDisposition` through a gateway
    process one at a time and eight at once; `--quick` with explicit counts, which still win."""
    argv = ["--quick", "--writes", "20", "--pending", "30", "--outage-seconds", "0.1"]
    assert main([*argv, "--mutations", "6"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("sqlite") and "(30 CRM records)" in line for line in lines)
    assert any(line.startswith("redis") and "(30 CRM records)" in line for line in lines)
    mutations = [line for line in lines if line.startswith("mutation recordDisposition")]
    assert [line.split(":")[0].rsplit(" ", 1)[1] for line in mutations] == ["1", "8"]
    assert all(line.endswith("(6/6 APPLIED, 6 CRM records)") for line in mutations)


@pytest.mark.parametrize(
    "argv",
    [
        ["--writes", "0"],
        ["--pending", "0"],
        ["--mutations", "-1"],
        ["--quick", "--outage-seconds", "-1"],
    ],
)
def test_bad_counts_are_refused_before_anything_starts(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "python -m bench.writes: error" in capsys.readouterr().err
