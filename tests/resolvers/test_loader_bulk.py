"""A level's keys are cheap: `settle_many` holds one future per batch, not one per key (the
compiled executor asks for every parent of a level at once: aiodataloader's future, callback
and `set_result` per key were a visible share of a 100-customer answer's CPU, issue #18)."""

from __future__ import annotations

import asyncio
import gc
from types import SimpleNamespace
from typing import Any, cast

import pytest

from resolvers import Loaders
from resolvers._loader import DISPATCH_TURNS, Loader, mark


class _Gated:
    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.calls: list[list[str]] = []

    async def load(self, keys: list[str]) -> list[str | Exception]:
        self.calls.append(list(keys))
        self.entered.set()
        await self.release.wait()
        return [ValueError(k) if k.startswith("bad") else k.upper() for k in keys]


def _futures() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, asyncio.Future))


async def test_a_level_of_a_thousand_keys_waits_on_a_few_futures() -> None:
    batch = _Gated()
    loader: Loader[str, str] = Loader(batch.load)
    keys = [f"k{i}" for i in range(1000)]
    before = _futures()
    pending = asyncio.ensure_future(loader.settle_many(keys))
    await batch.entered.wait()
    assert _futures() - before < 10  # the caller's task, its wait, the batch's task
    batch.release.set()
    assert await pending == [k.upper() for k in keys]
    assert batch.calls == [keys]


async def test_keys_in_flight_and_queued_settle_together_in_key_order() -> None:
    """A level whose keys span a batch in flight and a new one waits for both."""
    batch = _Gated()
    loader: Loader[str, str] = Loader(batch.load)
    first = asyncio.ensure_future(loader.settle_many(["a", "bad1"]))
    await batch.entered.wait()
    both = asyncio.ensure_future(loader.settle_many(["c", "a", "bad1", "c"]))
    await asyncio.sleep(0)
    batch.release.set()
    settled = await both
    assert settled[:2] == ["C", "A"] and settled[3] == "C"
    assert isinstance(settled[2], ValueError) and str(settled[2]) == "bad1"
    assert (await first)[0] == "A"
    assert batch.calls == [["a", "bad1"], ["c"]]  # each key fetched once


async def test_a_cancelled_batch_cancels_its_callers_and_is_not_cached() -> None:
    """A batch's task cancelled (shutdown) leaves no caller waiting forever, and its keys
    are asked again next time."""
    batch = _Gated()
    loader: Loader[str, str] = Loader(batch.load)
    level = asyncio.ensure_future(loader.settle_many(["a", "b"]))
    single = asyncio.ensure_future(loader.load("a"))
    await batch.entered.wait()
    [task] = loader._running
    task.cancel()
    await asyncio.wait_for(asyncio.gather(level, single, return_exceptions=True), timeout=5)
    assert level.cancelled() and single.cancelled()
    assert not loader.busy and not loader.failed
    batch.release.set()
    assert await loader.settle_many(["a"]) == ["A"]
    assert batch.calls == [["a", "b"], ["a"]]


async def test_load_many_raises_the_first_error_in_key_order() -> None:
    batch = _Gated()
    batch.release.set()
    loader: Loader[str, str] = Loader(batch.load)
    assert await loader.load_many(["a", "b"]) == ["A", "B"]
    with pytest.raises(ValueError, match="bad1"):
        await loader.load_many(["a", "bad1", "bad2"])
    assert batch.calls == [["a", "b"], ["bad1", "bad2"]]


async def test_answered_lists_the_keys_whose_values_arrived() -> None:
    """What the audit trail and the verification read from a request's loaders: values
    arrived, not errors, not keys still in flight."""
    batch = _Gated()
    loader: Loader[str, str] = Loader(batch.load)
    loader.prime("p", "P")
    first = loader.settle_many(["a", "bad1"])
    await batch.entered.wait()
    assert dict(loader.answered()) == {"p": "P"}
    batch.release.set()
    await first
    assert dict(loader.answered()) == {"p": "P", "a": "A"}
    assert loader.failed  # the rejected key is cached, and counts


async def echo(keys: list[str]) -> list[str]:
    """A batch function answering each key with itself."""
    return keys


def noting(calls: list[list[str]]) -> Loader[str, str]:
    """A loader answering each key with itself that notes each call's keys, in call order."""

    async def load(keys: list[str]) -> list[str]:
        calls.append(list(keys))
        return keys

    return Loader(load)


async def _turns_until_sent(loader: Loader[str, str], calls: list[list[str]]) -> int:
    for turn in range(1, 20):
        await asyncio.sleep(0)
        if calls:
            return turn
    raise AssertionError("never sent")


async def test_a_hurried_batch_goes_at_its_next_turn_and_keeps_same_turn_keys() -> None:
    """`hurry(mark)` (the compiled executor, once a level's keys are asked): the batch goes
    at its next turn, not its sixth, with the keys other callers add before that turn."""
    calls: list[list[str]] = []
    loader = noting(calls)
    since = mark()
    first = loader.settle_many(["a", "b"])
    loader.hurry(since)
    second = loader.settle_many(["c"])  # another caller woken in the same turn
    assert await _turns_until_sent(loader, calls) <= 2
    assert calls == [["a", "b", "c"]]
    assert await first == ["a", "b"] and await second == ["c"]


async def test_hurry_leaves_batches_queued_before_the_mark_to_their_turns() -> None:
    """A batch another caller started before the mark may still be collecting keys from
    callers a few awaits away (sibling root fields): not hurried."""
    calls: list[list[str]] = []
    loader = noting(calls)
    first = loader.settle_many(["a"])
    since = mark()
    second = loader.settle_many(["b"])
    loader.hurry(since)
    assert await _turns_until_sent(loader, calls) >= DISPATCH_TURNS
    assert calls == [["a", "b"]]
    assert await first == ["a"] and await second == ["b"]


class _Crm:
    """A CRM that answers nothing and notes each call, in the order made."""

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    async def cases(self, ids: list[str]) -> list[Any]:
        self.calls.append("cases")
        return []

    async def customers(self, key: str, ids: list[str]) -> list[Any]:
        self.calls.append("customers")
        return []


async def test_loaders_hurry_only_the_batches_queued_since_the_mark() -> None:
    """What the compiled executor does once a level is placed: the batches its keys started
    go at their next turn; one queued before (another field's) keeps its turns."""
    calls: list[str] = []
    loaders = Loaders(cast(Any, SimpleNamespace(crm=_Crm(calls))))
    before = loaders.customer.settle_many(["003A"])
    since = loaders.mark()
    after = loaders.cases.settle_many(["003A"])
    loaders.hurry(since)
    for _ in range(3):
        await asyncio.sleep(0)
    assert calls == ["cases"]
    assert await after == [[]] and await before == [None]
    assert calls == ["cases", "customers"]


async def test_a_batch_hurried_by_an_answers_caller_waits_for_every_caller_woken_that_turn() -> (
    None
):
    """Two batches answered in the same turn wake one caller each; the first hurries the next
    level's batch once it has asked its key. It goes when both callers have run (the end of
    that turn, `_Answers`), with both keys: one call, as without the hurry."""
    calls: list[list[str]] = []
    left: Loader[str, str] = Loader(echo)
    right: Loader[str, str] = Loader(echo)
    below = noting(calls)

    async def caller(parent: Loader[str, str], key: str) -> list[str | Exception]:
        await parent.settle_many([key])
        since = mark()
        pending = below.settle_many([key])
        below.hurry(since)  # as gateway/execution/run.py `_complete` does
        return await pending

    first = asyncio.ensure_future(caller(left, "a"))
    second = asyncio.ensure_future(caller(right, "b"))
    await asyncio.sleep(0)  # both callers queue their key
    left.dispatch()
    right.dispatch()  # both answered in the same turn
    assert await first == ["a"] and await second == ["b"]
    assert calls == [["a", "b"]]


async def test_loaders_send_the_batches_of_a_level_in_the_order_they_were_made() -> None:
    """`dispatch_since` (and `hurry`) go by batch, not by loader: the compiled executor starts
    the fields with the longest chain of calls first, so their batches are made first, and
    they go first even from a loader an earlier level made."""
    sent: list[str] = []
    loaders = Loaders(cast(Any, SimpleNamespace(crm=_Crm(sent))))
    loaders.customer.prime("003X", None)  # made by an earlier level: first in `made`
    since = loaders.mark()
    cases = loaders.cases.settle_many(["003A"])  # this level's first batch
    customers = loaders.customer.settle_many(["003B"])
    assert [loader.queued_at for loader in loaders.queued_since(since)] == [since, since + 1]
    loaders.dispatch_since(since)
    assert await cases == [[]] and await customers == [None]
    assert sent == ["cases", "customers"]
