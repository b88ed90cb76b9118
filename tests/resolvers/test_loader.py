"""The loader guard against graphql-core 3.3's sibling cancellation (STACK-NOTES A3.3)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest
import strawberry

from resolvers import Loaders
from resolvers._align import by_key, grouped
from resolvers._loader import Loader


async def test_loader_batches_one_tick_into_one_call() -> None:
    calls: list[list[str]] = []

    async def load(keys: list[str]) -> list[str]:
        calls.append(keys)
        return [k.upper() for k in keys]

    loader: Loader[str, str] = Loader(load)
    assert await asyncio.gather(*(loader.load(k) for k in "abca")) == ["A", "B", "C", "A"]
    assert calls == [["a", "b", "c"]]


async def test_cancelled_awaiter_does_not_poison_the_cached_key() -> None:
    release = asyncio.Event()

    async def load(keys: list[str]) -> list[str]:
        await release.wait()
        return keys

    loader: Loader[str, str] = Loader(load)
    first = asyncio.ensure_future(loader.load("k"))
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await loader.load("k") == "k"


@strawberry.type
class _Item:
    @strawberry.field
    async def value(self, info: strawberry.Info) -> str:
        result: str = await info.context["loader"].load("shared")
        return result


@strawberry.type
class _Query:
    @strawberry.field
    async def boom(self) -> str:
        await asyncio.sleep(0.005)
        raise ValueError("boom")

    @strawberry.field
    async def item(self) -> _Item:
        return _Item()


_SCHEMA = strawberry.Schema(_Query)


async def test_sibling_error_then_same_key_does_not_raise_cancelled() -> None:
    """graphql-core cancels siblings on the first error, and with them the loader future they
    await; a later load of that key (same loader) must still answer. Without the shield the
    second execute() raises CancelledError."""

    async def load(keys: list[str]) -> list[str]:
        await asyncio.sleep(0.02)
        return [f"v-{k}" for k in keys]

    loader: Loader[str, str] = Loader(load)
    first = await _SCHEMA.execute("{ boom item { value } }", context_value={"loader": loader})
    assert first.errors and first.errors[0].message == "boom"
    again = await _SCHEMA.execute("{ item { value } }", context_value={"loader": loader})
    assert again.errors is None
    assert again.data == {"item": {"value": "v-shared"}}


def test_by_key_aligns_unordered_gapped_duplicated_answers() -> None:
    records = [("c", 3), ("a", 1), ("a", 9)]
    assert by_key(records, ["a", "b", "c"], lambda r: r[0]) == [("a", 1), None, ("c", 3)]


def test_grouped_drops_records_for_keys_not_asked() -> None:
    records = [("x", 1), ("a", 2), ("a", 3)]
    assert grouped(records, ["a", "b"], lambda r: r[0]) == [[("a", 2), ("a", 3)], []]


@pytest.mark.parametrize("key", [None])
async def test_loader_refuses_none_key(key: None) -> None:
    async def load(keys: list[str]) -> list[str]:
        return keys

    with pytest.raises(TypeError):
        Loader(load).load(key)  # type: ignore[arg-type]


async def test_settle_many_joins_the_batch_and_settles_each_key() -> None:
    calls: list[list[str]] = []

    async def load(keys: list[str]) -> list[str | Exception]:
        calls.append(keys)
        return [ValueError(k) if k == "bad" else k.upper() for k in keys]

    loader: Loader[str, str] = Loader(load)
    single = loader.load("a")
    settled = await loader.settle_many(["b", "bad", "a"])
    assert await single == "A"
    assert settled[0] == "B" and settled[2] == "A"
    assert isinstance(settled[1], ValueError)
    assert calls == [["a", "b", "bad"]]  # one call: the keys asked in the same tick


async def test_keys_asked_a_few_turns_apart_share_one_call() -> None:
    """Sibling resolvers reach a loader a few awaits apart (a gather, a shield, a task
    starting): with aiodataloader's 2-turn dispatch they split into two calls."""
    calls: list[list[str]] = []

    async def load(keys: list[str]) -> list[str]:
        calls.append(keys)
        return keys

    loader: Loader[str, str] = Loader(load)

    async def later(key: str, turns: int) -> str:
        for _ in range(turns):
            await asyncio.sleep(0)
        return await loader.load(key)

    assert list(await asyncio.gather(later("a", 0), later("b", 3))) == ["a", "b"]
    assert calls == [["a", "b"]]


async def test_idle_waits_for_queued_and_running_calls() -> None:
    release = asyncio.Event()
    done: list[str] = []

    async def load(keys: list[str]) -> list[str]:
        await release.wait()
        done.extend(keys)
        return keys

    loader: Loader[str, str] = Loader(load)
    pending = loader.settle_many(["k"])
    assert loader.busy
    asyncio.get_running_loop().call_later(0.01, release.set)
    await loader.idle()
    assert done == ["k"] and not loader.busy
    assert await pending == ["k"]


# -- cancellation, in the style of graphql-core's tests/execution/test_cancellation.py ----------


class _Gated:
    """A batch function that waits for `release`; records each call's keys; `entered` is set
    once a call is in flight."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.calls: list[list[str]] = []

    async def load(self, keys: list[str]) -> list[str]:
        self.calls.append(keys)
        self.entered.set()
        await self.release.wait()
        return [k.upper() for k in keys]


async def test_a_cancelled_awaiter_does_not_cancel_the_batch_for_the_others() -> None:
    batch = _Gated()
    loader: Loader[str, str] = Loader(batch.load)
    leaving = asyncio.ensure_future(loader.load("a"))
    staying = asyncio.ensure_future(loader.load("a"))
    other = asyncio.ensure_future(loader.load("b"))
    await batch.entered.wait()
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    batch.release.set()
    assert [await staying, await other] == ["A", "B"]
    assert await loader.load("a") == "A"  # the cached key was not poisoned either
    assert batch.calls == [["a", "b"]]


async def test_a_cancelled_settle_many_caller_leaves_its_keys_to_the_others() -> None:
    batch = _Gated()
    loader: Loader[str, str] = Loader(batch.load)
    caller = asyncio.ensure_future(loader.settle_many(["a", "b"]))
    single = asyncio.ensure_future(loader.load("a"))
    await batch.entered.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    batch.release.set()
    assert await single == "A"
    assert await loader.settle_many(["a", "b"]) == ["A", "B"]
    assert batch.calls == [["a", "b"]]


async def test_drain_ends_once_the_calls_of_cancelled_fields_are_over() -> None:
    """A failed root field cancels its siblings; the response waits (drain) for the calls
    they started, and drain must end even when every awaiter is gone or the call failed."""
    entered = asyncio.Event()
    release = asyncio.Event()
    asked: list[list[str]] = []

    class Crm:
        async def cases(self, customer_ids: list[str]) -> list[Any]:
            asked.append(list(customer_ids))
            entered.set()
            await release.wait()
            if "boom" in customer_ids:
                raise RuntimeError("a bug in the batch")
            return [SimpleNamespace(customer_id=i) for i in customer_ids]

    loaders = Loaders(cast(Any, SimpleNamespace(crm=Crm())))
    fields = [asyncio.ensure_future(loaders.cases.load(k)) for k in ("c1", "c2")]
    await entered.wait()
    for field in fields:
        field.cancel()
    await asyncio.gather(*fields, return_exceptions=True)
    assert loaders.cases.busy  # the call is still in flight: drain must wait for it
    drained = asyncio.ensure_future(loaders.drain())
    await asyncio.sleep(0)
    assert not drained.done()
    release.set()
    await asyncio.wait_for(drained, timeout=5)  # a guard: drain used to be able to hang
    assert not loaders.cases.busy and asked == [["c1", "c2"]]

    failing = asyncio.ensure_future(loaders.cases.load("boom"))
    await asyncio.wait_for(loaders.drain(), timeout=5)
    with pytest.raises(RuntimeError):
        await failing
