"""A system as the clients see it: GET a path, get decoded JSON or a typed `SourceError`, with
the request's deadline, retries, the circuit breaker, the bulkhead and (reference data only)
stale-if-error applied around the one HTTP seam (`sources.transport.exchange`).

Reads (GET) are idempotent, so `get_json` retries them. A write (`patch_json`) is made once
here, through the same breaker and bulkhead: its retries belong to its caller (the write
outbox), which always sends the same external id, so a retry after an ambiguous failure
updates the record the first attempt made instead of creating a second.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import orjson
from cachetools import TTLCache

from .._errors import SourceBadResponse, SourceError, SourceTimeout
from .._scope import current_scope
from .._settings import SourceSettings
from .exchange import (
    Decode,
    ExchangeFactory,
    Headers,
    HttpClient,
    Params,
    open_exchange,
    probe,
)
from .observe import Call, CallObserver
from .resilience import Bulkhead, CircuitBreaker, Outcome, RetryBudget, outcome_of

__all__ = ["Params", "SourceSettings", "Transport"]

_NO_HEADERS: Headers = {}

_MIN_ATTEMPT = 0.01
"""An attempt, first or retry, that would have less than this many seconds of the request left
is not worth starting: no system answers in that time, and the timeout it ends in would be the
request's, not the system's. It also keeps a deadline's edge from depending on the timer: a
wait bounded by the deadline (a caller's verification) ends within a timer's slack of it, with
a few hundred microseconds left, or none; compiled execution sends the next level at once and
standard a few turns later, so one sent a call ('did not answer in time') where the other
skipped it ('no time left'): tests/differential/test_scenarios.py, faults timeout-ccaas."""


class Transport:
    def __init__(
        self, settings: SourceSettings, *, exchange: ExchangeFactory = open_exchange
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self.http = HttpClient(settings, exchange)
        self.breaker = CircuitBreaker(
            settings.name,
            window=settings.breaker_window,
            min_calls=settings.breaker_min_calls,
            failure_ratio=settings.breaker_failure_ratio,
            open_seconds=settings.breaker_open_seconds,
        )
        self.bulkhead = Bulkhead(
            settings.name, max_in_flight=settings.max_in_flight, max_queue=settings.max_queue
        )
        self.retry_budget = RetryBudget(settings.retry_budget_ratio)
        self.observer: CallObserver | None = None
        """Told of each logical call (gateway metrics and traces: `sources.transport.observe`)."""
        self._stale: TTLCache[tuple[str, tuple[tuple[str, str], ...]], Any] | None = (
            TTLCache(maxsize=4096, ttl=settings.stale_if_error_seconds)
            if settings.stale_if_error_seconds > 0
            else None
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def probe(self, within: float = 1.0) -> bool:
        return await probe(self.settings.base_url, within, self.settings.health_path)

    async def get_json(
        self, path: str, params: Params = (), *, keys: int = 0, decode: Decode | None = None
    ) -> Any:
        """One logical call (retries included), recorded once in the request's scope and told
        to the observer (`keys`: how many keys a batch asks for; 0 for a search; `decode`: see
        `HttpClient.get_json`). The retry
        loop and each attempt are here, not in coroutines of their own: each await of a
        coroutine is a frame made and resumed on every call (the transport's CPU is per
        back-end call, issue #18)."""
        started = time.monotonic()
        observer = self.observer
        call: Call | None = None
        headers: Headers = _NO_HEADERS
        if observer is not None:
            call = observer.started(self.name, path, keys)
            headers = call.headers
        retries = 0
        status = "cancelled"
        breaker = self.breaker
        bulkhead = self.bulkhead
        now = started
        try:
            self.retry_budget.deposit()
            while True:
                try:
                    # One attempt through the breaker and the bulkhead (here, not in a coroutine
                    # of its own). Its outcome is recorded in `finally`, on every exit path: a
                    # cancelled or crashed attempt is `abandoned`, which releases a half-open
                    # probe instead of keeping it forever (h11's rule: every exception,
                    # BaseException included, leaves the state machine defined).
                    budget = self._budget(now)
                    ticket = breaker.admit()
                    outcome = Outcome.ABANDONED
                    try:
                        if not bulkhead.acquire_now():
                            await bulkhead.acquire(budget)
                        try:
                            left = budget - (time.monotonic() - now)
                            body = await self.http.get_json(
                                path, params, left if left > 0.001 else 0.001, headers, decode
                            )
                        finally:
                            bulkhead.release()
                    except SourceError as exc:
                        outcome = outcome_of(exc)
                        raise
                    else:
                        outcome = Outcome.SUCCESS
                    finally:
                        breaker.record(ticket, outcome)
                    break
                except SourceError as exc:
                    delay = self._retry_delay(exc, retries)
                    if delay is None:
                        stale = self._stale_of(path, params)
                        status = "stale" if stale is not None else exc.status
                        self._record(status, started)
                        if stale is None:
                            raise
                        return stale
                try:
                    await asyncio.sleep(delay)
                except BaseException:  # cancelled while waiting: the retry it paid for never went
                    self.retry_budget.refund()
                    raise
                retries += 1
                now = time.monotonic()
            status = "ok"
            self._record(status, started)
            if self._stale is not None:
                self._stale[(path, tuple(params))] = body
            return body
        finally:
            if call is not None:
                call.ended(status, retries, self.breaker.state.value)

    def _stale_of(self, path: str, params: Params) -> Any:
        return self._stale.get((path, tuple(params))) if self._stale is not None else None

    async def patch_json(
        self, path: str, body: bytes, budget: float | None = None
    ) -> tuple[int, Any]:
        """One write attempt: (status, decoded body) of any answer the system gave below 500
        but 429, or a typed `SourceError` (unavailable, timeout, rate limited, circuit open,
        overloaded). `budget` cuts the attempt's time further (the write's own deadline)."""
        started = time.monotonic()
        budget = self._budget() if budget is None else min(self._budget(), budget)
        ticket = self.breaker.admit()
        outcome = Outcome.ABANDONED
        try:
            async with self.bulkhead.slot(budget):
                left = max(budget - (time.monotonic() - started), 0.001)
                try:
                    async with asyncio.timeout(left):
                        status, raw = await self.http.exchange.patch(path, body)
                except TimeoutError as exc:
                    raise SourceTimeout(self.name, f"{self.name} did not answer in time") from exc
            try:
                answer = orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError as exc:
                raise SourceBadResponse(
                    self.name, f"{self.name} answered a malformed body"
                ) from exc
        except SourceError as exc:
            outcome = outcome_of(exc)
            self._record(exc.status, started)
            raise
        else:
            outcome = Outcome.SUCCESS
            self._record("ok", started)
            return status, answer
        finally:
            self.breaker.record(ticket, outcome)

    def _budget(self, now: float | None = None) -> float:
        """This attempt's time: the source's own timeout, cut to what the request has left
        (`now`: time.monotonic(), when the caller has just read it)."""
        budget = self.settings.timeout
        scope = current_scope()
        if scope is not None:
            left = scope.remaining(now)
            if left < _MIN_ATTEMPT:
                raise SourceTimeout(self.name, f"{self.name} call skipped: no time left")
            if left < budget:
                budget = left
        if budget <= 0:
            raise SourceTimeout(self.name, f"{self.name} call skipped: no time left")
        return budget

    def _retry_delay(self, exc: SourceError, attempt: int) -> float | None:
        """How long to wait before retrying, or None: not retryable, out of attempts, out of
        time (never past the deadline), out of retry budget, or asked to wait longer than
        `retry_max_delay`. That cap holds with or without a request scope (the JWKS refresh
        has none): a `Retry-After: 3600` fails the call at once rather than sleeping for an
        hour, and rather than retrying sooner than the system asked."""
        if not exc.retryable or attempt >= self.settings.retries:
            return None
        cap = self.settings.retry_max_delay
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            delay = float(retry_after)
            if delay > cap:
                return None
        else:  # full jitter: spreads the retries of many callers apart
            delay = random.uniform(0, min(cap, self.settings.retry_base_delay * 2**attempt))
        scope = current_scope()
        if scope is not None and delay + _MIN_ATTEMPT > scope.remaining():
            return None
        if not self.retry_budget.withdraw():
            return None
        return delay

    def _record(self, status: str, started: float) -> None:
        scope = current_scope()
        if scope is not None:
            scope.record(self.name, status, time.monotonic() - started)
