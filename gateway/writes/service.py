"""The write service: an idempotent, never-lost way to the CRM (issue #15).

    submit(intent)
      1. reserve (issuer, subject, key) atomically, the record PENDING and leased to this attempt
         - taken, same body  -> the first write's result (after waiting for its attempt here)
         - taken, other body -> IdempotencyKeyReused
      2. one direct attempt within [writes] deadline_ms
         - the CRM answers      -> APPLIED / REJECTED (settled, on_settled awaited)
         - retryable, or no answer in time -> PENDING, due after a backoff
    worker: claims due PENDING writes, upserts them (same external id: a retry after an
    ambiguous timeout updates the record the first attempt made), backs off with full jitter,
    dead-letters a write after max_attempts or max_age_seconds.

Every exit path leaves the store defined: the record is PENDING from its reservation on, with a
lease covering the direct attempt, so a cancelled caller, a crash or a CRM answering late all
leave a write the worker delivers; settling is conditional on PENDING, so two racing attempts
report one outcome, and on_settled runs once, in a task of its own that a cancelled caller
cannot stop half-way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import replace
from typing import Any, Protocol

from gateway.writes.model import (
    IdempotencyKeyReused,
    NotADeadLetter,
    Unreadable,
    WriteIntent,
    WriteRecord,
    WriteResult,
    is_write_id,
)
from gateway.writes.settings import WriteSettings
from gateway.writes.store import Store
from sources import (
    CrmObject,
    SourceCircuitOpen,
    SourceError,
    SourceOverloaded,
    Upserted,
    WriteRejected,
)

__all__ = ["OnSettled", "OutboxWrites", "Upserter"]

log = logging.getLogger("switchboard.writes")

OnSettled = Callable[[WriteRecord], Awaitable[None]]
LEASE_MARGIN = 1.0
"""Seconds a claim outlives the attempt it covers."""
PURGE_EVERY = 60.0
OUTAGE_POLL_MAX = 5.0
"""Seconds between the worker's looks at an outbox it cannot read, at most (doubling from
poll_seconds): a store that is down is not asked twice a second for as long as it is down."""
OUTAGE_LOG_EVERY = 60.0
"""Seconds between the worker's warnings while the outbox stays unreadable (the first failure
and the recovery are logged at once)."""


class Upserter(Protocol):
    """The CRM as the service needs it (sources.CrmClient)."""

    async def upsert(
        self,
        obj: CrmObject,
        external_id: str,
        fields: Mapping[str, str | None],
        *,
        budget: float | None = None,
    ) -> Upserted: ...


class OutboxWrites:
    def __init__(
        self,
        store: Store,
        crm: Upserter,
        settings: WriteSettings,
        *,
        on_settled: OnSettled | None = None,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.crm = crm
        self.settings = settings
        self.on_settled = on_settled
        """Awaited once per write that reaches APPLIED or REJECTED; may be set before start()."""
        self.clock = clock
        self.jitter = jitter
        self._lease = settings.deadline + LEASE_MARGIN
        self._inflight: dict[str, asyncio.Future[None]] = {}  # idem -> its first attempt here
        self._tasks: set[asyncio.Task[Any]] = set()
        self._worker: asyncio.Task[None] | None = None
        self._opened = False
        self._closing = False
        self._wake = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        """The store only (the CLI's commands need no worker)."""
        if not self._opened:
            await self.store.open()
            self._opened = True

    async def start(self) -> None:
        """Open the store and start the worker. A store that cannot be reached now (Redis
        down at start-up) does not stop the gateway: the worker keeps trying to open it, and
        writes meanwhile fail as the store does."""
        try:
            await self.open()
        except Exception as exc:
            log.warning("writes outbox unavailable at start (%s); retrying", type(exc).__name__)
        if self._worker is None:
            self._closing = False
            self._worker = asyncio.create_task(self._run(), name="writes-worker")

    async def aclose(self) -> None:
        """Stop the worker (a delivery cut short stays claimed: it is delivered again once its
        claim lapses), let settling and hooks finish, close the store."""
        self._closing = True  # the worker's loop ends even if a cancel is swallowed
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.store.aclose()  # opened or not: a client may hold a pool either way
        self._opened = False

    # -- the Writes protocol ---------------------------------------------------------------
    async def submit(self, intent: WriteIntent) -> WriteResult:
        record = WriteRecord.of(intent, self.clock(), self._lease)
        ahead = self._inflight.get(record.idem)
        if ahead is not None:
            # the same key is being attempted in this process: its answer is this one's
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.deadline):
                    await asyncio.shield(ahead)
        mine: asyncio.Future[None] | None = None
        if record.idem not in self._inflight:
            mine = self._inflight[record.idem] = asyncio.get_running_loop().create_future()
        try:
            held = await self.store.reserve(record)
            if held is not None:
                if held.body_hash != record.body_hash:
                    raise IdempotencyKeyReused()
                return held.result
            return await self._direct(record)
        finally:
            if mine is not None:
                del self._inflight[record.idem]
                mine.set_result(None)

    async def get(self, write_id: str) -> WriteRecord | None:
        if not is_write_id(write_id):
            return None
        return await self.store.get(write_id)

    async def dead_letters(self, limit: int = 100) -> list[WriteRecord]:
        return await self.store.dead_letters(max(1, min(limit, 1000)))

    async def unreadable(self, limit: int = 100) -> list[Unreadable]:
        """Writes set aside because their record could not be read (listed with the dead
        letters; read the raw record in the store itself)."""
        return await self.store.unreadable(max(1, min(limit, 1000)))

    async def unreadable_count(self) -> int:
        """How many are set aside (the switchboard_outbox_unreadable gauge)."""
        return await self.store.unreadable_count()

    async def replay(self, write_id: str) -> WriteResult:
        again = await self.store.requeue(write_id, self.clock()) if is_write_id(write_id) else None
        if again is None:
            raise NotADeadLetter(f"{write_id} is not in the dead-letter list")
        log.info("write %s replayed into the outbox by an operator", write_id)
        self._wake.set()
        return again.result

    async def pending(self) -> int:
        return await self.store.pending()

    async def oldest_pending(self) -> float | None:
        return await self.store.oldest_pending()

    # -- attempts ----------------------------------------------------------------------------
    async def _direct(self, record: WriteRecord) -> WriteResult:
        """The attempt the caller waits for. Cancelled (the client went away) or crashed, the
        record stays PENDING under its lease: the worker takes it when the lease is over."""
        outcome = await self._attempt(record, dead_on_reject=False)
        if outcome.final:
            return await asyncio.shield(self._spawn(self._settle(outcome)))
        await self.store.defer(outcome)
        return outcome.result

    async def _deliver(self, record: WriteRecord) -> None:
        """A worker's delivery; every failure is kept in the store, none escapes."""
        try:
            now = self.clock()
            if self._expired(record, now):
                outcome = record.settled(
                    "REJECTED",
                    now,
                    code=record.code or "RETRIES_EXHAUSTED",
                    message=f"not delivered after {record.attempts} attempts",
                    dead=True,
                )
            else:
                outcome = await self._attempt(record, dead_on_reject=True)
            if outcome.final:
                await self._settle(outcome)
            else:
                await self.store.defer(outcome)
        except asyncio.CancelledError:
            raise
        except Exception:
            # the store failed (or a bug): the claim lapses and the write is tried again
            log.exception("write %s: delivery failed; it stays in the outbox", record.write_id)

    async def _attempt(self, record: WriteRecord, *, dead_on_reject: bool) -> WriteRecord:
        """One upsert: the record as it should be stored next (final, or PENDING with its next
        time)."""
        deadline = self.settings.deadline
        now = self.clock()
        try:
            async with asyncio.timeout(deadline):
                done = await self.crm.upsert(
                    record.crm_object, record.external_id, record.fields, budget=deadline
                )
        except WriteRejected as exc:
            sent = replace(record, attempts=record.attempts + 1)
            return sent.settled(
                "REJECTED", self.clock(), code=exc.reason, message=exc.message, dead=dead_on_reject
            )
        except (SourceError, TimeoutError) as exc:
            unsent = isinstance(exc, SourceCircuitOpen | SourceOverloaded)
            attempts = record.attempts + (0 if unsent else 1)
            code = exc.code if isinstance(exc, SourceError) else "SOURCE_TIMEOUT"
            message = exc.message if isinstance(exc, SourceError) else "crm did not answer in time"
            later = replace(record, attempts=attempts, code=code, message=message, updated_at=now)
            if self._expired(later, now):
                return later.settled(
                    "REJECTED",
                    now,
                    code=code,
                    message=f"not delivered after {attempts} attempts: {message}",
                    dead=True,
                )
            # never retried after its max age: dead-lettered then, not at a retry long after
            next_at = min(now + self._backoff(max(attempts, 1)), self._dead_at(later))
            return replace(later, next_at=next_at)
        sent = replace(record, attempts=record.attempts + 1)
        return sent.settled("APPLIED", self.clock(), record_id=done.record_id)

    def _expired(self, record: WriteRecord, now: float) -> bool:
        return record.attempts >= self.settings.max_attempts or now >= self._dead_at(record)

    def _dead_at(self, record: WriteRecord) -> float:
        """When a write not delivered yet is dead-lettered (max_age_seconds)."""
        return record.created_at + self.settings.max_age_seconds

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform over [0, min(max, base * 2**(attempt-1))]."""
        s = self.settings
        ceiling = min(s.backoff_max_seconds, s.backoff_base_seconds * 2.0 ** min(attempt - 1, 30))
        return self.jitter() * ceiling

    async def _settle(self, final: WriteRecord) -> WriteResult:
        if not await self.store.settle(final):
            current = await self.store.get(final.write_id)  # settled by someone else first
            return (current or final).result
        log.info(
            "write %s %s: %s %s", final.write_id, final.status, final.operation, final.crm_object
        )
        hook = self.on_settled
        if hook is not None:
            try:
                await hook(final)
            except Exception:
                log.exception("write %s: on_settled failed (the write stands)", final.write_id)
        return final.result

    def _spawn(self, work: Coroutine[Any, Any, WriteResult]) -> asyncio.Task[WriteResult]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- the worker --------------------------------------------------------------------------
    async def _run(self) -> None:
        s = self.settings
        purged = 0.0
        failures = 0  # passes in a row that could not read the outbox
        warned = 0.0  # monotonic time of the last warning about it
        while not self._closing:
            try:
                await self.open()
                now = self.clock()
                if now - purged >= PURGE_EVERY:
                    await self.store.purge(now - s.retention_seconds)
                    purged = now
                batch = await self.store.claim(now, self._lease, s.worker_concurrency)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                if failures == 1 or time.monotonic() - warned >= OUTAGE_LOG_EVERY:
                    warned = time.monotonic()
                    log.warning(
                        "writes outbox unavailable (%s), %d pass(es) in a row; retrying",
                        type(exc).__name__,
                        failures,
                    )
                batch = []
            else:
                if failures:
                    log.info("writes outbox available again after %d failed pass(es)", failures)
                failures = 0
            if batch:
                await asyncio.gather(*(self._deliver(r) for r in batch))
                continue
            self._wake.clear()
            # a timer that wakes the worker, not asyncio.timeout (on 3.11 a cancel arriving as
            # the timeout expires is turned into TimeoutError, and the worker would never
            # stop) nor a task per poll (tasks that come and go look like leaks to anyone
            # counting the app's tasks)
            delay = s.poll_seconds
            if failures:
                delay = min(delay * 2.0 ** min(failures, 20), max(delay, OUTAGE_POLL_MAX))
            timer = asyncio.get_running_loop().call_later(delay, self._wake.set)
            try:
                await self._wake.wait()
            finally:
                timer.cancel()
