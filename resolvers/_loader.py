"""aiodataloader, guarded against graphql-core 3.3's sibling cancellation.

graphql-core cancels sibling resolver tasks when one raises (`gather_with_cancel`); a task that was
awaiting a loader's cached future cancels that future, and a later `load()` of the same key in the
same request then raises CancelledError out of the whole operation (STACK-NOTES A3.3). Shielding
the cached future keeps it intact for every other awaiter.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from aiodataloader import DataLoader
from aiodataloader import Loader as Loading

from sources import (
    RequestScope,
    SourceError,
    SourcePartial,
    current_scope,
    more_patient,
    scope_context,
)

__all__ = ["Loader", "by_key", "grouped", "settled"]

DISPATCH_TURNS = 6
"""Event-loop turns between a batch's first key and its call."""

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
R = TypeVar("R")


class Loader(DataLoader[K, V], Generic[K, V]):
    """A per-request batching loader whose `load()` survives cancelled siblings."""

    def __init__(
        self, batch_load_fn: Callable[[list[K]], Awaitable[Sequence[V | Exception]]]
    ) -> None:
        """`batch_load_fn` answers one value per key, in key order; an Exception in place of a
        value rejects that key only."""
        self._running: set[asyncio.Future[None]] = set()
        self._sent = 0
        """Batches sent so far: a scheduled dispatch whose batch went already does nothing."""
        self._patient: RequestScope | None = None
        """The most patient request scope among the callers whose keys the queued batch
        carries (valid once `_noted`)."""
        self._noted = False
        super().__init__(batch_load_fn)  # type: ignore[arg-type]

    @property
    def busy(self) -> bool:
        """Keys queued for a call, or a call in flight."""
        return bool(self._queue or self._running)

    @property
    def failed(self) -> bool:
        """A key whose load failed or has not finished (rejections are cached too): a cache
        kept past its operation (a subscription's, gateway/events/screen_pops.py) is only
        served again when none did."""
        return any(
            not f.done() or f.cancelled() or f.exception() is not None for f in self._cache.values()
        )

    async def idle(self) -> None:
        """Until every key asked so far has been fetched (its call over, whatever its end)."""
        while self._queue or self._running:
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)
            else:
                await asyncio.sleep(0)  # queued: the dispatch is a few turns away

    def load(self, key: K) -> asyncio.Future[V]:
        future = super().load(key)
        self._joined()
        return asyncio.shield(future)

    def _joined(self) -> None:
        """The caller's deadline counts for the queued batch (its key is queued, or was
        already: the same call serves it)."""
        if self._queue:
            scope = current_scope()
            self._patient = more_patient(self._patient, scope) if self._noted else scope
            self._noted = True

    def do_resolve_reject(self, key: K, future: asyncio.Future[V]) -> None:
        """Queue the key; the first of a batch schedules its dispatch `DISPATCH_TURNS` turns
        of the event loop later (aiodataloader: 2), so keys asked by siblings a few awaits
        apart (a gather, a shield, a task starting) still share the call."""
        future.add_done_callback(_observed, context=_NO_CONTEXT)
        self._queue.append(Loading(key=key, future=future))
        if len(self._queue) == 1:
            self.loop.call_soon(self._turn, DISPATCH_TURNS - 1, self._sent)

    def dispatch(self) -> None:
        """Send the queued keys now, without waiting out the turns: for a caller that knows
        no sibling will add one (the routing context). Each turn is an await of the event
        loop, where other requests' work (and other threads, for the GIL) can run first: six
        of them took 3 ms on average, 48 ms at the 99th percentile, under load."""
        if self._queue:
            self._send()

    def _turn(self, left: int, batch: int) -> None:
        if batch != self._sent:  # this batch went already (`dispatch`)
            return
        if left > 0:
            self.loop.call_soon(self._turn, left - 1, batch)
            return
        self._send()

    def _send(self) -> None:
        self._sent += 1
        queue, self._queue = self._queue, []
        # on the most patient caller's deadline, whoever queued the first key: a sibling's
        # keys in a batch the routing context started (its own 300 ms, `narrowed_scope`) keep
        # the request's deadline (issue #18)
        patient = self._patient if self._noted else current_scope()
        self._patient, self._noted = None, False
        batch = self.loop.create_task(
            dispatch_queue_batch(self, queue), context=scope_context(patient)
        )
        self._running.add(batch)
        batch.add_done_callback(self._running.discard)

    def settle_many(self, keys: Sequence[K]) -> Awaitable[list[V | Exception]]:
        """Every key's value, or the exception that rejected it, in key order: the compiled
        executor's one wait for a whole level. The keys join the current batch now (the same
        batch `load()` would join), and the cached futures are only observed, never awaited
        directly, so a cancelled caller cannot cancel them for anyone else."""
        futures = [DataLoader.load(self, key) for key in keys]
        self._joined()
        return _settle(futures)


async def dispatch_queue_batch(loader: Loader[Any, Any], queue: list[Loading]) -> None:
    """aiodataloader's function of the same name, minus its reference cycle.

    There, a failed batch's error is caught in the frame that holds the batch's `queue`, so the
    error's traceback (which every future it rejects keeps too) holds that frame, the frame the
    queue, the queue the futures: a cycle per failed batch, keeping the futures, the error and
    every frame of the failed call (with their locals) for the cycle collector. Here the call
    is awaited in a frame of its own (`_outcome`) that holds no future. The same contract: one
    value or Exception per key, in key order; a batch that fails whole (or answers a wrong
    count) rejects every key and is not cached."""
    keys = [item.key for item in queue]
    values, error = await _outcome(loader.batch_load_fn(keys), len(keys))
    if error is not None:
        for item in queue:
            loader.clear(item.key)
            if not item.future.done():
                item.future.set_exception(error)
        return
    for item, value in zip(queue, values, strict=True):
        if not item.future.done():
            if isinstance(value, Exception):
                item.future.set_exception(value)
            else:
                item.future.set_result(value)


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


def _observed(future: asyncio.Future[V]) -> None:
    """A key's error counts as retrieved: every caller still waiting gets it through its
    shield; when none is (each was cancelled: a deadline, a sibling's error), asyncio would log
    it with a formatted traceback at garbage collection, costing CPU exactly when a worker has
    fallen behind (tests/routing/test_deadline.py)."""
    if not future.cancelled():
        future.exception()


_NO_CONTEXT = contextvars.Context()
"""`_observed` reads no context variable: one empty context for every key's callback, not a
copy of the request's context per key."""


async def _settle(futures: list[asyncio.Future[V]]) -> list[V | Exception]:
    waiting = [f for f in futures if not f.done()]
    if waiting:
        done = asyncio.get_running_loop().create_future()
        left = len(waiting)

        def arrived(_: asyncio.Future[V]) -> None:
            nonlocal left
            left -= 1
            if left == 0 and not done.done():
                done.set_result(None)

        # `arrived` reads no context variable: one empty context for all its calls, not a copy
        # of the request's context per key (asyncio's default: 1,000 copies for 1,000 keys)
        context = contextvars.Context()
        for future in waiting:
            future.add_done_callback(arrived, context=context)
        try:
            await done
        finally:
            for future in waiting:
                future.remove_done_callback(arrived)
    results: list[V | Exception] = []
    for future in futures:
        error = future.exception()
        results.append(future.result() if error is None else error)  # type: ignore[arg-type]
    return results


async def settled(fetch: Awaitable[list[R]]) -> tuple[list[R], dict[str, SourceError]]:
    """A batch's records, plus the keys whose chunk failed (and why) when only some did."""
    try:
        return await fetch, {}
    except SourcePartial as partial:
        records: list[R] = partial.records  # type: ignore[assignment]
        return records, dict.fromkeys(partial.failed, partial.error)


def by_key(
    records: Iterable[R],
    keys: Sequence[str],
    key: Callable[[R], str],
    failed: Mapping[str, Exception] | None = None,
) -> list[R | Exception | None]:
    """Align records to `keys` by id, never by position: systems answer unordered, with gaps.
    A key whose chunk failed gets its error, which rejects that key only."""
    found: dict[str, R] = {}
    for record in records:
        found.setdefault(key(record), record)
    if failed:
        return [failed[k] if k in failed else found.get(k) for k in keys]
    return [found.get(k) for k in keys]


def grouped(
    records: Iterable[R],
    keys: Sequence[str],
    key: Callable[[R], str],
    failed: Mapping[str, Exception] | None = None,
) -> list[list[R] | Exception]:
    """Group child records under their parent keys (failed chunks: their error)."""
    groups: dict[str, list[R]] = {k: [] for k in keys}
    for record in records:
        bucket = groups.get(key(record))
        if bucket is not None:
            bucket.append(record)
    if failed:
        return [failed[k] if k in failed else groups[k] for k in keys]
    return [groups[k] for k in keys]
