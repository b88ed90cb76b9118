"""Per-source protections: a retry budget, a circuit breaker and a bulkhead. No I/O here."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from ._errors import SourceCircuitOpen, SourceOverloaded, SourceTimeout

__all__ = ["Bulkhead", "CircuitBreaker", "RetryBudget"]


class RetryBudget:
    """Retries may add at most `ratio` of the calls (plus a small reserve for quiet periods), so
    a sick system is not hammered by its own clients (the Finagle retry-budget idea)."""

    def __init__(self, ratio: float, reserve: float = 3.0, cap: float = 50.0) -> None:
        self.ratio = ratio
        self.cap = max(cap, reserve)
        self.tokens = reserve

    def deposit(self) -> None:
        """A first attempt was made."""
        self.tokens = min(self.cap, self.tokens + self.ratio)

    def withdraw(self) -> bool:
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class CircuitBreaker:
    """Closed: calls flow, outcomes fill a window. Opens when at least `min_calls` of the last
    `window` outcomes are in and `failure_ratio` of them failed; while open, calls fail fast
    with CIRCUIT_OPEN. After `open_seconds` one probe goes through (half-open): its success
    closes the circuit, its failure opens it again."""

    def __init__(
        self,
        source: str,
        *,
        window: int,
        min_calls: int,
        failure_ratio: float,
        open_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.min_calls = min_calls
        self.failure_ratio = failure_ratio
        self.open_seconds = open_seconds
        self.clock = clock
        self.state = "closed"
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._opened_at = 0.0
        self._probing = False

    def check(self) -> None:
        """Before a call: raises SourceCircuitOpen if it must not go out."""
        if self.state == "open":
            if self.clock() - self._opened_at < self.open_seconds:
                raise SourceCircuitOpen(self.source, f"{self.source} is failing; not calling it")
            self.state = "half_open"
            self._probing = False
        if self.state == "half_open":
            if self._probing:
                raise SourceCircuitOpen(self.source, f"{self.source} is failing; not calling it")
            self._probing = True

    def success(self) -> None:
        if self.state == "half_open":
            self.state = "closed"
            self._outcomes.clear()
            self._probing = False
        else:
            self._outcomes.append(False)

    def failure(self) -> None:
        if self.state == "half_open":
            self._open()
            return
        self._outcomes.append(True)
        failures = sum(self._outcomes)
        if len(self._outcomes) >= self.min_calls and failures >= self.failure_ratio * len(
            self._outcomes
        ):
            self._open()

    def neutral(self) -> None:
        """An outcome that says nothing about the system's health (it is throttling us)."""
        if self.state == "half_open":
            self._probing = False

    def _open(self) -> None:
        self.state = "open"
        self._opened_at = self.clock()
        self._outcomes.clear()
        self._probing = False


class Bulkhead:
    """At most `max_in_flight` calls to the system at once and at most `max_queue` waiting, so
    one slow system cannot take the connections and memory the others need; beyond that a call
    fails fast with SOURCE_OVERLOADED."""

    def __init__(self, source: str, *, max_in_flight: int, max_queue: int) -> None:
        self.source = source
        self.max_queue = max_queue
        self._slots = asyncio.Semaphore(max_in_flight)
        self._waiting = 0

    @property
    def waiting(self) -> int:
        return self._waiting

    @asynccontextmanager
    async def slot(self, budget: float) -> AsyncIterator[None]:
        if self._slots.locked() and self._waiting >= self.max_queue:
            raise SourceOverloaded(self.source, f"{self.source} has too many calls waiting")
        self._waiting += 1
        try:
            async with asyncio.timeout(budget):
                await self._slots.acquire()
        except TimeoutError:
            raise SourceTimeout(self.source, f"{self.source} did not answer in time") from None
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._slots.release()
