"""Benchmarks, run as modules and not part of the test suite: `python -m bench` (the harness:
every figure of docs/performance.md), `python -m bench.faults`, `python -m bench.masking`."""
