"""Per-source protections: a retry budget, a circuit breaker and a bulkhead. No I/O here.

The breaker's whole state machine lives in this module (h11's rule for `_state.py`): the states,
the outcomes an attempt can end with, how an exception is classified into one (`outcome_of`),
and the one table of what each outcome does in each state (`_ON_OUTCOME`). The transport only
asks `admit()` before an attempt and calls `record()` once after it, whatever the exit path.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import Final

from .._errors import SourceCircuitOpen, SourceError, SourceOverloaded
from .slots import Slots

__all__ = ["Bulkhead", "CircuitBreaker", "CircuitState", "Outcome", "RetryBudget", "outcome_of"]


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

    def refund(self) -> None:
        """A withdrawn retry was never made (its caller was cancelled while waiting)."""
        self.tokens = min(self.cap, self.tokens + 1.0)


class CircuitState(StrEnum):
    CLOSED = "closed"
    """Calls flow; their outcomes fill the window."""
    OPEN = "open"
    """Calls fail fast with CIRCUIT_OPEN until `open_seconds` have passed."""
    HALF_OPEN = "half_open"
    """One probe at a time may go out; its outcome decides."""


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    """The system itself failed (a SourceError that `counts_against_system`)."""
    NEUTRAL = "neutral"
    """An answer that says nothing about the system's health: throttled (429), or refused
    locally before it was sent (the bulkhead: SourceOverloaded)."""
    ABANDONED = "abandoned"
    """No verdict: the caller was cancelled, or something other than a SourceError was raised.
    The default until an attempt is classified, so no exit path can keep a probe forever."""


def outcome_of(error: BaseException | None) -> Outcome:
    """How an attempt that ended with `error` (None: it answered) counts for the breaker."""
    if error is None:
        return Outcome.SUCCESS
    if not isinstance(error, SourceError):
        return Outcome.ABANDONED  # CancelledError, or a bug: it says nothing about the system
    return Outcome.FAILURE if error.counts_against_system else Outcome.NEUTRAL


class _Step(StrEnum):
    TALLY_SUCCESS = "tally_success"
    TALLY_FAILURE = "tally_failure"
    """Opens the circuit once the window holds `min_calls` and `failure_ratio` failed."""
    CLOSE = "close"
    OPEN = "open"
    RELEASE_PROBE = "release_probe"
    NOTHING = "nothing"


_ON_OUTCOME: Final[dict[tuple[CircuitState, Outcome], _Step]] = {
    (CircuitState.CLOSED, Outcome.SUCCESS): _Step.TALLY_SUCCESS,
    (CircuitState.CLOSED, Outcome.FAILURE): _Step.TALLY_FAILURE,
    (CircuitState.CLOSED, Outcome.NEUTRAL): _Step.NOTHING,
    (CircuitState.CLOSED, Outcome.ABANDONED): _Step.NOTHING,
    (CircuitState.HALF_OPEN, Outcome.SUCCESS): _Step.CLOSE,
    (CircuitState.HALF_OPEN, Outcome.FAILURE): _Step.OPEN,
    (CircuitState.HALF_OPEN, Outcome.NEUTRAL): _Step.RELEASE_PROBE,
    (CircuitState.HALF_OPEN, Outcome.ABANDONED): _Step.RELEASE_PROBE,
}
"""What an attempt's outcome does, by the state it was admitted in. OPEN admits nothing, so it
has no row; the only time-triggered transition (OPEN -> HALF_OPEN) is in `admit`."""


class CircuitBreaker:
    """Closed: calls flow, outcomes fill a window. Opens when at least `min_calls` of the last
    `window` outcomes are in and `failure_ratio` of them failed; while open, calls fail fast
    with CIRCUIT_OPEN. After `open_seconds` one probe goes through (half-open): its success
    closes the circuit, its failure opens it again, and any other end (neutral, cancelled,
    unexpected error) lets the next call probe instead.

    `admit()` hands out the current epoch; each transition starts a new one, and `record()`
    ignores an outcome from an earlier epoch (a call admitted while closed that ends after the
    circuit opened is no verdict on the probe, nor on the next closed period)."""

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
        self.state = CircuitState.CLOSED
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._opened_at = 0.0
        self._probing = False
        self._epoch = 0

    @property
    def probing(self) -> bool:
        """A half-open probe is out."""
        return self._probing

    def admit(self) -> int:
        """Before an attempt: its ticket for `record`, or SourceCircuitOpen if it must not go
        out. Every admitted attempt must be recorded exactly once."""
        if self.state is CircuitState.OPEN:
            if self.clock() - self._opened_at < self.open_seconds:
                raise self._refusal()
            self._enter(CircuitState.HALF_OPEN)
        if self.state is CircuitState.HALF_OPEN:
            if self._probing:
                raise self._refusal()
            self._probing = True
        return self._epoch

    def record(self, ticket: int, outcome: Outcome) -> None:
        """After an admitted attempt, on every exit path (call it from a `finally`)."""
        if ticket != self._epoch:
            return
        if outcome is Outcome.SUCCESS and self.state is CircuitState.CLOSED:
            self._outcomes.append(False)  # the common case, without the table's lookup
            return
        step = _ON_OUTCOME[(self.state, outcome)]
        if step is _Step.TALLY_SUCCESS:
            self._outcomes.append(False)
        elif step is _Step.TALLY_FAILURE:
            self._outcomes.append(True)
            total = len(self._outcomes)
            if total >= self.min_calls and sum(self._outcomes) >= self.failure_ratio * total:
                self._enter(CircuitState.OPEN)
        elif step is _Step.CLOSE:
            self._enter(CircuitState.CLOSED)
        elif step is _Step.OPEN:
            self._enter(CircuitState.OPEN)
        elif step is _Step.RELEASE_PROBE:
            self._probing = False

    def _enter(self, state: CircuitState) -> None:
        self.state = state
        self._epoch += 1
        self._outcomes.clear()
        self._probing = False
        if state is CircuitState.OPEN:
            self._opened_at = self.clock()

    def _refusal(self) -> SourceCircuitOpen:
        return SourceCircuitOpen(self.source, f"{self.source} is failing; not calling it")


class Bulkhead:
    """At most `max_in_flight` calls to the system at once and at most `max_queue` waiting, so
    one slow system cannot take the connections and memory the others need; beyond that, or
    when no slot frees within the call's time, the call is refused unsent (SourceOverloaded).
    Both counters are restored on every exit path, cancellation included."""

    def __init__(self, source: str, *, max_in_flight: int, max_queue: int) -> None:
        self.source = source
        self.max_queue = max_queue
        self._slots = Slots(max_in_flight)
        self._waiting = 0
        self._in_flight = 0

    @property
    def waiting(self) -> int:
        return self._waiting

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def acquire_now(self) -> bool:
        """A free slot with nobody waiting, taken at once (the common case: no coroutine, no
        timer); False otherwise, and then `acquire` waits for one. `release()` it once after."""
        if self._slots.take_now():
            self._in_flight += 1
            return True
        return False

    async def acquire(self, budget: float) -> None:
        """A slot within `budget` seconds, or SourceOverloaded; `release()` it once after.
        A free slot with nobody waiting is taken without a timer (the common case: a timer
        per call was most of the bulkhead's cost); waiting is bounded by `budget`."""
        if self.acquire_now():
            return
        if self._waiting >= self.max_queue:
            raise SourceOverloaded(self.source, f"{self.source} has too many calls waiting")
        self._waiting += 1
        try:
            async with asyncio.timeout(budget):
                await self._slots.take()
        except TimeoutError:
            raise SourceOverloaded(self.source, f"{self.source} had no free slot in time") from None
        finally:
            self._waiting -= 1
        self._in_flight += 1

    def release(self) -> None:
        self._in_flight -= 1
        self._slots.give()

    @asynccontextmanager
    async def slot(self, budget: float) -> AsyncIterator[None]:
        """`acquire` and `release` around a block."""
        await self.acquire(budget)
        try:
            yield
        finally:
            self.release()
