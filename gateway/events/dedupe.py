"""A bounded set whose members expire: "have we seen this id lately?".

Deliveries are at-least-once, so the same webhook-id (and the same vendor event under a new
webhook-id) arrives again. Memory is bounded twice: by time (`ttl`) and by count (`max_size`,
oldest forgotten first), so a flood of distinct ids cannot grow the process. A forgotten id may
be accepted again; the broker's own dedupe by event id is the second line.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

__all__ = ["TtlSet"]


class TtlSet:
    def __init__(
        self, ttl: float, max_size: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if ttl <= 0 or max_size < 1:
            raise ValueError("ttl must be > 0 and max_size at least 1")
        self._ttl = ttl
        self._max = max_size
        self._clock = clock
        self._expiry: OrderedDict[Hashable, float] = OrderedDict()

    def __len__(self) -> int:
        self._purge(self._clock())
        return len(self._expiry)

    def __contains__(self, key: Hashable) -> bool:
        now = self._clock()
        self._purge(now)
        return key in self._expiry

    def add(self, key: Hashable) -> bool:
        """Remember `key`; False if it was already remembered (a duplicate)."""
        now = self._clock()
        self._purge(now)
        if key in self._expiry:
            return False
        while len(self._expiry) >= self._max:
            self._expiry.popitem(last=False)
        self._expiry[key] = now + self._ttl
        return True

    def _purge(self, now: float) -> None:
        # one ttl for all: insertion order is expiry order, so the expired are at the front
        while self._expiry:
            key, expires = next(iter(self._expiry.items()))
            if expires > now:
                return
            del self._expiry[key]
