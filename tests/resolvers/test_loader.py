"""The loader guard against graphql-core 3.3's sibling cancellation (STACK-NOTES A3.3)."""

from __future__ import annotations

import asyncio

import pytest
import strawberry

from resolvers._loader import Loader, by_key, grouped


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
