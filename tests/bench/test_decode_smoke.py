"""`python -m bench.decode` end to end, briefly: it decodes each kind of answer both ways and
prints a row per kind (counts, never times: the figures are for docs/performance.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KINDS = ("customers", "accounts", "cases", "cards", "risk", "parties", "events", "transactions")


def test_each_kind_of_answer_is_decoded_both_ways() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.decode", "--customers", "10", "--rounds", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()[1:]}
    assert set(KINDS) | {"contacts"} == set(rows), done.stdout
    assert all(int(rows[kind][1]) > 0 for kind in KINDS), done.stdout
