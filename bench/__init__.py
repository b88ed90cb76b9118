"""Benchmarks: run as modules (`python -m bench.masking`); not part of the test suite."""
