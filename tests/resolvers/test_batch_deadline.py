"""A loader batch serves every caller whose keys it carries, so it runs on the most patient
caller's deadline, never on whichever caller happened to queue the first key. The routing
context (`Query.routingContext`) narrows its own part of a request to 300 ms
(`narrowed_scope`); a sibling field's keys that join a batch it started must still get the
request's 2 s (issue #18: "core call skipped: no time left" for a request far from its
deadline)."""

from __future__ import annotations

import asyncio

from resolvers._loader import Loader
from sources import current_scope, narrowed_scope, request_scope


def _recording(deadlines: list[float | None]) -> Loader[str, str]:
    async def load(keys: list[str]) -> list[str]:
        scope = current_scope()
        deadlines.append(None if scope is None else scope.deadline)
        return keys

    return Loader(load)


async def test_a_batch_started_under_a_narrowed_scope_runs_on_the_request_deadline() -> None:
    deadlines: list[float | None] = []
    loader = _recording(deadlines)
    with request_scope(2.0) as request:

        async def routing_part() -> str:
            with narrowed_scope(0.01):  # queues the batch's first key
                return await loader.load("a")

        async def sibling() -> str:
            return await loader.load("b")

        first = asyncio.ensure_future(routing_part())
        await asyncio.sleep(0)  # the narrowed caller's key is queued first
        assert list(await asyncio.gather(first, sibling())) == ["a", "b"]
    assert deadlines == [request.deadline]


async def test_a_caller_joining_a_queued_key_makes_its_batch_patient_too() -> None:
    """The same key asked by both (a cache hit before the dispatch) counts the same."""
    deadlines: list[float | None] = []
    loader = _recording(deadlines)
    with request_scope(2.0) as request:

        async def routing_part() -> list[str | Exception]:
            with narrowed_scope(0.01):
                return await loader.settle_many(["a"])

        first = asyncio.ensure_future(routing_part())
        await asyncio.sleep(0)
        assert await loader.load("a") == "a"
        assert await first == ["a"]
    assert deadlines == [request.deadline]


async def test_a_batch_of_narrowed_callers_only_keeps_their_deadline() -> None:
    """The routing endpoint's own calls still end by its deadline."""
    deadlines: list[float | None] = []
    loader = _recording(deadlines)
    with request_scope(2.0), narrowed_scope(0.3) as narrowed:
        assert narrowed is not None
        assert list(await asyncio.gather(loader.load("a"), loader.load("b"))) == ["a", "b"]
    assert deadlines == [narrowed.deadline]


async def test_each_batch_is_judged_by_its_own_callers() -> None:
    deadlines: list[float | None] = []
    loader = _recording(deadlines)
    with request_scope(2.0) as request:
        assert await loader.load("a") == "a"
        with narrowed_scope(0.3) as narrowed:
            assert narrowed is not None
            assert await loader.load("b") == "b"
    assert deadlines == [request.deadline, narrowed.deadline]
