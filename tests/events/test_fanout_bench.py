"""`python -m bench.events_fanout` runs (a smoke run: its figures are the lead's evidence for
issue #14's OFFERED goal) and counts what routing promises: one feed woken per offered contact,
whatever the number of agents."""

from __future__ import annotations

import pytest

from bench.events_fanout import main


def test_the_fanout_bench_runs_and_wakes_one_feed_per_offered_contact(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--agents", "1", "5", "--events", "3", "--broker", "in-process", "--latency-ms", "1"]
    assert main(argv) == 0
    rows = [line.split("|") for line in capsys.readouterr().out.splitlines()[2:]]
    assert [(r[1].strip(), r[2].strip(), float(r[4])) for r in rows] == [
        ("in-process", "1", 1.0),
        ("in-process", "5", 1.0),  # feeds woken per OFFERED
    ]
