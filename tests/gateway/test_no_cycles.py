"""No reference cycles in what the gateway builds per request: the names a document's tokens
write (error concealment) are read without leaving the lexer's doubly linked token chain to the
cycle collector, and the executor's async helpers do not refer back to the executor
(tests/integration/test_request_cycles.py runs whole requests)."""

from __future__ import annotations

import asyncio
import inspect
from types import SimpleNamespace
from typing import Any, cast

import pytest

from gateway.execution.acyclic import detached
from gateway.limits.extension import written_names
from tests.support.cycles import cycle_garbage


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('query Q { customer(id: "003") { id } }', {"query", "Q", "customer", "id"}),
        ("# Customer\n{ a # b\n b }", {"a", "b"}),
        ("{ a b( }", {"a", "b"}),  # a syntax error: the names before it
    ],
)
def test_written_names_leave_no_token_cycles(text: str, names: set[str]) -> None:
    written_names(text)
    with cycle_garbage() as found:
        assert written_names(text) == names
    assert found == {}, found


async def test_detached_helpers_gather_and_track_as_graphql_core_does() -> None:
    """The executor's async helpers, rebuilt without a reference to the executor, still
    gather (cancelling the rest on a failure) and settle tracked work in the background."""
    background: set[Any] = set()
    executor = SimpleNamespace(is_awaitable=inspect.isawaitable, background_futures=background)
    helpers = detached(cast(Any, executor))

    async def value(v: int) -> int:
        await asyncio.sleep(0)
        return v

    async def boom() -> int:
        raise ValueError("boom")

    assert await helpers.gather([value(1), value(2)]) == [1, 2]
    slow = asyncio.ensure_future(asyncio.sleep(10))
    with pytest.raises(ValueError, match="boom"):
        await helpers.gather([boom(), slow])
    assert slow.cancelled()
    helpers.track([1, value(3)])
    assert len(background) == 1
    [future] = background
    assert await future == [3]
    assert not background  # discarded once settled
