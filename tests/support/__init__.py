"""Helpers shared by the tests and the benchmarks (bench/ imports them too: both run from the
repo root, where `tests` is a package)."""
