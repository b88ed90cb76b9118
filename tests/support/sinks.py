"""An audit sink that stalls (a log shipper fallen behind) until the test releases it."""

from __future__ import annotations

import threading

__all__ = ["StalledSink"]


class StalledSink:
    """Stuck in each write until `release` is set (at most 10 s: a test that never releases
    it does not hold the writer thread for ever); `entered` says a write has begun."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.written: list[bytes] = []

    def __call__(self, lines: bytes) -> None:
        self.entered.set()
        self.release.wait(10)
        self.written.append(lines)
