"""`python -m bench.memory` end to end, briefly: the sandbox and a gateway with the probe loaded,
one scenario. Checks that the probe answers (collections, cycle garbage) and counts, never times:
a request leaves (almost) nothing in reference cycles."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--scenarios", "ivr", "--seconds", "0.5", "--warmup", "0.2", "--saveall", "--top", "3"]
CYCLES = re.compile(r"DEBUG_SAVEALL: \d+ objects in cycles over (\d+) ops = ([\d.]+) per op")


def test_the_probe_reports_collections_and_no_cycle_garbage_per_request() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.memory", *ARGS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert re.search(r"^ivr: \d+ ops \(0 errors\), [\d.]+ ops/CPU-s", out, re.M), out
    assert all(f"gen{g}: " in out for g in range(3)), out
    per_op = CYCLES.search(out)
    assert per_op is not None, out
    assert int(per_op[1]) > 0 and float(per_op[2]) < 1.0, out
