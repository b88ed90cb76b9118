"""A request's loaders, their cached records and its failures are freed by reference counting,
not left in reference cycles for the collector (bench/memory.py measured ~2,000 objects per
100-customer answer waiting for it, which made 100+ ms collections and a 350 MB worker)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
from collections.abc import Iterable
from typing import Any, cast

from resolvers import Loaders
from resolvers._loader import Loader
from resolvers.fields import accounts_of, one
from sources import SourceUnavailable
from sources.records import Customer
from tests.support.cycles import cycle_garbage

from .records import customer


class _Crm:
    async def customers(self, key: str, values: Iterable[str]) -> list[Customer]:
        return [customer(f"003{v}", party=v) for v in values]


class _Core:
    async def accounts(self, party_ids: Iterable[str]) -> list[Any]:
        raise SourceUnavailable("core", "core is unavailable")


class _Knowledge:
    async def by_intent(self, intents: list[str], limit: int) -> dict[str, list[Any]]:
        return {}


def _loaders() -> Loaders:
    sources: Any = type("S", (), {"crm": _Crm(), "core": _Core(), "knowledge": _Knowledge()})()
    return Loaders(sources)


async def _request() -> None:
    """What one request does with its loaders: customers by another system's id (which primes
    the by-id loader), articles, a whole batch failing, the error raised for two fields."""
    loaders = _loaders()
    found = await loaders.customer_by_core_party.load("P1")
    assert found is not None and await loaders.customer.load(found.id) is found
    assert await loaders.articles_by_intent.load(("billing", 3)) == []
    settled = await accounts_of(loaders, [found, found])
    assert all(isinstance(s, SourceUnavailable) for s in settled)
    for _ in range(2):  # standard execution: each parent's field raises the shared error
        try:
            await one(accounts_of(loaders, [found]))
        except SourceUnavailable:
            pass
        else:
            raise AssertionError("the failed batch must fail the field")
    await loaders.drain()


async def test_a_request_leaves_no_cycle_garbage() -> None:
    await _request()  # imports and first-use caches outside the count
    with cycle_garbage() as found:
        for _ in range(3):
            await _request()
            await asyncio.sleep(0)
    assert found == {}, found


async def test_a_failed_batch_still_rejects_every_key_uncached() -> None:
    """The dispatch rewritten without aiodataloader's cycle keeps its contract: a batch that
    fails whole rejects each key with the error and caches none of them."""
    calls: list[list[str]] = []

    async def load(keys: list[str]) -> list[str]:
        calls.append(keys)
        if len(calls) == 1:
            raise SourceUnavailable("core", "down")
        return [k.upper() for k in keys]

    loader: Loader[str, str] = Loader(load)
    first = await asyncio.gather(loader.load("a"), loader.load("b"), return_exceptions=True)
    assert [type(e) for e in first] == [SourceUnavailable, SourceUnavailable]
    assert first[0] is first[1]
    assert await loader.load("a") == "A"  # not cached: asked again
    assert calls == [["a", "b"], ["a"]]


async def test_a_wrong_count_of_values_rejects_the_batch() -> None:
    async def load(keys: list[str]) -> list[str]:
        return ["only one"]

    loader: Loader[str, str] = Loader(load)
    results = await asyncio.gather(loader.load("a"), loader.load("b"), return_exceptions=True)
    assert all(isinstance(r, TypeError) for r in results)


async def test_an_unexpected_error_keeps_its_traceback() -> None:
    """Only a source's error loses its traceback: a bug's is logged with it."""

    async def load(keys: list[str]) -> list[str]:
        raise ZeroDivisionError("bug")

    loader: Loader[str, str] = Loader(load)
    [error] = await asyncio.gather(loader.load("a"), return_exceptions=True)
    assert isinstance(error, ZeroDivisionError) and error.__traceback__ is not None
    try:
        await one(cast(Any, asyncio.sleep(0, [error])))
    except ZeroDivisionError as raised:
        assert raised is error and raised.__traceback__ is not None


async def test_settle_many_does_not_copy_the_context_per_key() -> None:
    """A level's wait observes each key's future through one callback context, not a copy of
    the request's context per key (1,000 keys made 1,000 live contexts per request)."""
    release = asyncio.Event()

    async def load(keys: list[str]) -> list[str]:
        await release.wait()
        return keys

    def contexts() -> int:
        return sum(1 for o in gc.get_objects() if type(o) is contextvars.Context)

    loader: Loader[str, str] = Loader(load)
    before = contexts()
    pending = asyncio.ensure_future(loader.settle_many([f"k{i}" for i in range(1000)]))
    for _ in range(10):  # the batch is dispatched and the wait registered
        await asyncio.sleep(0)
    assert loader.busy
    assert contexts() - before < 10
    release.set()
    assert len(await pending) == 1000
