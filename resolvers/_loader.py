"""A per-request batching loader, cheap per key: a level's keys cost a dict entry, not a future.

The compiled executor asks for all parents of a level at once (`settle_many`); aiodataloader
(which this replaces) cost every key a future, a queue entry, a done-callback and a
`set_result`, a visible share of a 100-customer answer's CPU. Here a batch is one `_Batch`: its
keys, then its values by key (or the error that failed it whole), and the waiters to wake when
it is over. A `settle_many` caller waits once per batch (one future of its own, woken by the
batch: never the batch's, so a cancelled caller cancels nothing another caller waits for —
graphql-core 3.3 cancels sibling resolvers when one raises, STACK-NOTES A3.3). `load` (standard
execution's routing, writes, events) still answers one future per call, its own.

The contract is aiodataloader's: keys asked within a few event-loop turns share one call; a key
asked twice in a request is fetched once (a per-key error is cached too); a batch that fails
whole rejects every key and caches none.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator, Sequence
from functools import partial
from typing import Any, Generic, TypeVar

from resolvers._eager import start_task
from sources import (
    RequestScope,
    current_scope,
    more_patient,
    scope_context,
)

__all__ = ["Loader", "after_answers", "mark"]

DISPATCH_TURNS = 6
"""Event-loop turns between a batch's first key and its call."""

_created = [0]
"""How many batches this process has created: a batch's `seq` (`mark`, `Loader.hurry`)."""


class _Answers:
    """Per event loop: the batches answered whose waiters have not all run yet, and the
    loaders hurried meanwhile (`Loader.hurry`). A batch's answer wakes its `settle_many`
    callers with `call_soon`, then queues `_flush` behind them: when the last flush queued
    runs, every caller woken by every batch answered so far has run, so the hurried batches
    can go then, a turn before their own `_turn` would send them. A woken caller that will
    only project (`after_answers`) waits for the flushes queued when it was woken, so the
    hurried batches do not wait for its projection."""

    __slots__ = ("hurried", "later", "pending", "ran")

    def __init__(self) -> None:
        self.pending = 0
        """Flushes queued and not run yet."""
        self.ran = 0
        """Flushes run so far."""
        self.hurried: list[Loader[Any, Any]] = []
        """Hurried while a flush was queued (held until it runs: within one turn)."""
        self.later: deque[tuple[int, asyncio.Future[None]]] = deque()
        """(the flushes run by then, the caller's future): `after_answers`, in that order."""


_ANSWERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Answers] = (
    weakref.WeakKeyDictionary()
)


def _answers(loop: asyncio.AbstractEventLoop) -> _Answers:
    answers = _ANSWERS.get(loop)
    if answers is None:
        answers = _ANSWERS[loop] = _Answers()
    return answers


def _flush(answers: _Answers) -> None:
    answers.pending -= 1
    answers.ran += 1
    if not answers.pending and answers.hurried:
        hurried, answers.hurried = answers.hurried, []
        for loader in hurried:
            if loader._hurried and loader._queued is not None:
                loader._send()
    later = answers.later
    while later and later[0][0] <= answers.ran:
        waiter = later.popleft()[1]
        if not waiter.done():  # its caller may have been cancelled meanwhile
            waiter.set_result(None)


def after_answers() -> asyncio.Future[None] | None:
    """For a caller woken by a batch's answer that asks no key before it is done (it only
    projects records): a future of its own, done once every flush queued so far has run (the
    end of this turn), so a batch hurried by the callers woken with it goes before this
    caller's projection, not after; None when no flush is queued (nothing to let go first).
    Bounded: it never waits for flushes queued after it was woken."""
    loop = asyncio.get_running_loop()
    answers = _ANSWERS.get(loop)
    if answers is None or not answers.pending:
        return None
    waiter: asyncio.Future[None] = loop.create_future()
    answers.later.append((answers.ran + answers.pending, waiter))
    return waiter


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Batch(Generic[K, V]):
    """One call's keys and, once it is over, its values by key or the error that failed it
    whole. Refers to no loader, caller or future of a caller's frame: no cycle through it."""

    __slots__ = ("error", "keys", "loads", "over", "seq", "values", "waiters")

    def __init__(self) -> None:
        self.seq = _created[0]
        """Batches created in this process before this one (`Loader.hurry`)."""
        _created[0] += 1
        self.keys: list[K] = []
        self.values: dict[K, V | Exception] = {}
        self.error: BaseException | None = None
        """Set when the call failed whole (an Exception), or was cancelled (CancelledError)."""
        self.over = False
        self.waiters: list[asyncio.Future[None]] = []
        """`settle_many` callers, woken (never failed) when the batch is over."""
        self.loads: list[tuple[K, asyncio.Future[V]]] = []
        """`load` callers, each answered its key's value or error."""

    def value(self, key: K) -> V | Exception:
        error = self.error
        if error is None:
            return self.values[key]
        if isinstance(error, Exception):
            return error
        raise error  # cancelled: what awaiting a cancelled future raises

    def finish(self, values: list[V | Exception], error: BaseException | None) -> None:
        """Record the outcome and wake every waiter still waiting."""
        if error is None:
            self.values = dict(zip(self.keys, values, strict=True))
        self.error = error
        self.over = True
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.waiters = []
        for key, future in self.loads:
            if future.done():
                continue
            if error is not None and not isinstance(error, Exception):
                future.cancel()
                continue
            value = error if error is not None else self.values[key]
            if isinstance(value, Exception):
                future.set_exception(value)
                # retrieved: a caller that left without cancelling must not cost a formatted
                # traceback at garbage collection (tests/routing/test_deadline.py)
                future.exception()
            else:
                future.set_result(value)
        self.loads = []


class Loader(Generic[K, V]):
    """A per-request batching loader: `load(key)` or `settle_many(keys)`, batched a few turns."""

    def __init__(
        self,
        batch_load_fn: Callable[[list[K]], Awaitable[Sequence[V | Exception]]],
        turns: int = DISPATCH_TURNS,
    ) -> None:
        """`batch_load_fn` answers one value per key, in key order; an Exception in place of a
        value rejects that key only. `turns`: event-loop turns between a batch's first key and
        its call (fewer only for a loader whose keys all come at once, see `Loaders`)."""
        self.batch_load_fn = batch_load_fn
        self.turns = max(1, turns)
        self.loop = asyncio.get_event_loop()
        self._answers = _answers(self.loop)
        self._cache: dict[K, _Batch[K, V]] = {}
        """Each key asked: the batch that carries (or carried) it."""
        self._queued: _Batch[K, V] | None = None
        """The batch collecting keys, not sent yet."""
        self._primed: _Batch[K, V] | None = None
        """Values put in by `prime` (a batch that is over from the start)."""
        self._running: set[asyncio.Future[None]] = set()
        self._sent = 0
        """Batches sent so far: a scheduled dispatch whose batch went already does nothing."""
        self._patient: RequestScope | None = None
        """The most patient request scope among the callers whose keys the queued batch
        carries (valid once `_noted`)."""
        self._noted = False
        self._hurried = False
        """The queued batch goes at its next turn (`hurry`)."""

    @property
    def busy(self) -> bool:
        """Keys queued for a call, or a call in flight."""
        return bool(self._queued is not None or self._running)

    @property
    def failed(self) -> bool:
        """A key whose load failed or has not finished (rejections are cached too): a cache
        kept past its operation (a subscription's, gateway/events/screen_pops.py) is only
        served again when none did."""
        for key, batch in self._cache.items():
            if not batch.over or batch.error is not None:
                return True
            if isinstance(batch.values[key], Exception):
                return True
        return False

    def answered(self) -> Iterator[tuple[K, V]]:
        """Each key whose value has arrived (not an error), with its value: what this
        request already knows, without a call (the audit trail's customer names)."""
        for key, batch in self._cache.items():
            if batch.over and batch.error is None:
                value = batch.values[key]
                if not isinstance(value, Exception):
                    yield key, value

    async def idle(self) -> None:
        """Until every key asked so far has been fetched (its call over, whatever its end)."""
        while self._queued is not None or self._running:
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)
            else:
                await asyncio.sleep(0)  # queued: the dispatch is a few turns away

    def _batch_of(self, key: K) -> _Batch[K, V]:
        """The batch carrying `key`: cached, or the queued one it now joins."""
        batch = self._cache.get(key)
        if batch is not None:
            return batch
        if key is None:
            raise TypeError("a loader key must be a value, not None")
        batch = self._queued
        if batch is None:
            batch = self._queued = _Batch()
            self.loop.call_soon(self._turn, self.turns - 1, self._sent)
            if self.turns == 1 and self._answers.pending:
                # a one-turn loader's keys are all asked by the callers an answer wakes: it
                # goes once they have run, as a hurried batch does (`_Answers`)
                self._hurried = True
                self._answers.hurried.append(self)
        batch.keys.append(key)
        self._cache[key] = batch
        return batch

    def load(self, key: K) -> asyncio.Future[V]:
        """`key`'s value (or error), in a future of this caller's own: cancelling it cancels
        nothing another caller waits for."""
        batch = self._batch_of(key)
        self._joined()
        future: asyncio.Future[V] = self.loop.create_future()
        if not batch.over:
            batch.loads.append((key, future))
            return future
        value = batch.value(key)
        if isinstance(value, Exception):
            future.set_exception(value)
            future.exception()  # retrieved (see `_Batch.finish`)
        else:
            future.set_result(value)
        return future

    def settle_many(self, keys: Sequence[K]) -> Awaitable[list[V | Exception]]:
        """Every key's value, or the exception that rejected it, in key order: the compiled
        executor's one wait for a whole level. The keys join the current batch now (the same
        batch `load()` would join); the caller waits on a future of its own per batch, so a
        cancelled caller cannot cancel anything for anyone else."""
        batch_of = self._batch_of
        batches = [batch_of(key) for key in keys]
        self._joined()
        return _settle(keys, batches)

    def load_many(self, keys: Iterable[K]) -> Awaitable[list[V]]:
        """Every key's value, in key order; the first key's error in key order raised
        (aiodataloader's `load_many`, a gather of `load`s, without a future per key)."""
        return _all(self.settle_many(list(keys)))

    def prime(self, key: K, value: V) -> Loader[K, V]:
        """Cache `value` for `key` unless the key was asked already (aiodataloader's `prime`)."""
        if key not in self._cache:
            primed = self._primed
            if primed is None:
                primed = self._primed = _Batch()
                primed.over = True
            primed.values[key] = value
            self._cache[key] = primed
        return self

    def clear(self, key: K) -> Loader[K, V]:
        """Forget `key`: the next ask fetches it again."""
        self._cache.pop(key, None)
        return self

    def _joined(self) -> None:
        """The caller's deadline counts for the queued batch (its key is queued, or was
        already: the same call serves it)."""
        if self._queued is not None:
            scope = current_scope()
            self._patient = more_patient(self._patient, scope) if self._noted else scope
            self._noted = True

    @property
    def queued_at(self) -> int:
        """The queued batch's `seq` (the order batches were made in), -1 when none is queued."""
        queued = self._queued
        return -1 if queued is None else queued.seq

    def dispatch(self) -> None:
        """Send the queued keys now, without waiting out the turns: for a caller that knows
        no sibling will add one (the routing context). Each turn is an await of the event
        loop, where other requests' work (and other threads, for the GIL) can run first: six
        of them took 3 ms on average, 48 ms at the 99th percentile, under load."""
        if self._queued is not None:
            self._send()

    def hurry(self, since: int) -> None:
        """The queued batch, if created at or after `mark()` returned `since`, goes at its next
        turn rather than after all its turns: for a caller that has just asked every key
        this batch can get (the compiled executor, having placed a level woken by one batch:
        every other caller woken by it runs before that next turn). Woken by a batch's
        answer, it goes sooner: once every caller woken by the batches answered so far has
        run, at the end of this turn (`_Answers`)."""
        queued = self._queued
        if queued is not None and queued.seq >= since and not self._hurried:
            self._hurried = True
            answers = self._answers
            if answers.pending:  # woken by a batch's answer: goes when its wakeups have run
                answers.hurried.append(self)

    def dispatch_since(self, since: int) -> None:
        """Send the queued batch now if created at or after `mark()` returned `since`: for a
        caller that has just asked every key this batch can get, with no other caller that
        could add one (the compiled executor's only root field, once placed)."""
        queued = self._queued
        if queued is not None and queued.seq >= since:
            self._send()

    def _turn(self, left: int, batch: int) -> None:
        if batch != self._sent:  # this batch went already (`dispatch`)
            return
        if left > 0 and not self._hurried:
            self.loop.call_soon(self._turn, left - 1, batch)
            return
        self._send()

    def _send(self) -> None:
        batch = self._queued
        assert batch is not None
        self._sent += 1
        self._queued = None
        self._hurried = False
        # on the most patient caller's deadline, whoever queued the first key: a sibling's
        # keys in a batch the routing context started (its own 300 ms, `narrowed_scope`) keep
        # the request's deadline (issue #18)
        patient = self._patient if self._noted else current_scope()
        self._patient, self._noted = None, False
        # the call is written now, not at a later turn behind the other answers' reads
        task = start_task(self.loop, dispatch_queue_batch(self, batch), scope_context(patient))
        self._running.add(task)
        task.add_done_callback(partial(self._ended, batch))

    def _ended(self, batch: _Batch[K, V], task: asyncio.Future[None]) -> None:
        """A batch's task is over: a batch it did not settle (cancelled, at shutdown, maybe
        before it started) cancels its callers and is not cached."""
        self._running.discard(task)
        if not batch.over:
            self._forget(batch)
            batch.finish([], asyncio.CancelledError())

    def _forget(self, batch: _Batch[K, V]) -> None:
        """Uncache a batch that failed whole: its keys are fetched again when asked."""
        cache = self._cache
        for key in batch.keys:
            if cache.get(key) is batch:
                del cache[key]


def mark() -> int:
    """The `seq` the next batch created will have (`Loader.hurry`)."""
    return _created[0]


async def dispatch_queue_batch(loader: Loader[Any, Any], batch: _Batch[Any, Any]) -> None:
    """Make one batch's call and settle its keys (the name of aiodataloader's function).

    A failed call's error is caught in a frame of its own (`_outcome`) that holds no batch and
    no future: the error's traceback, which the batch and the futures it rejects keep, holds
    no cycle back to them (aiodataloader's kept the queue of futures: a cycle per failed
    batch, for the cycle collector). A batch that fails whole (or answers a wrong count)
    rejects every key and is not cached (one cancelled: `Loader._ended`)."""
    keys = batch.keys
    values, error = await _outcome(loader.batch_load_fn(keys), len(keys))
    if error is not None:
        loader._forget(batch)
    woken = bool(batch.waiters)
    batch.finish(values, error)
    if woken:  # behind the wakeups `finish` queued (`_Answers`)
        answers = loader._answers
        answers.pending += 1
        loader.loop.call_soon(_flush, answers)


async def _outcome(
    call: Awaitable[Iterable[Any]], count: int
) -> tuple[list[Any], Exception | None]:
    """The batch function's values, or the exception that stopped it."""
    try:
        values = list(await call)
    except Exception as error:
        return [], error
    if len(values) != count:
        return [], TypeError(f"a batch function answered {len(values)} values for {count} keys")
    return values, None


async def _settle(keys: Sequence[K], batches: list[_Batch[K, V]]) -> list[V | Exception]:
    """Wait for each distinct batch not over yet (a level's keys: one, mostly), on a future of
    this caller's own, then read every key's value."""
    last: _Batch[K, V] | None = None
    for batch in batches:
        if batch is last or batch.over:
            continue
        last = batch
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        batch.waiters.append(waiter)
        await waiter
    return [batch.value(key) for key, batch in zip(keys, batches, strict=True)]


async def _all(pending: Awaitable[list[V | Exception]]) -> list[V]:
    values = await pending
    error = next((v for v in values if isinstance(v, Exception)), None)
    if error is None:
        return values  # type: ignore[return-value]
    # no local keeps the error: the traceback it is raised with holds this frame
    del values
    try:
        raise error
    finally:
        del error
