"""The routing deadline at the resolver: whatever did not answer in time is in `degraded`, even a
system the time ran out before asking."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from gateway.routing import RoutingSettings, load_routing
from resolvers import Loaders
from resolvers._loader import Loader
from resolvers.routing import routing_context
from sources import Sources, request_scope
from sources.sandbox.client import set_fault
from tests.support.subscribing import open_sources

ROUTING = load_routing(RoutingSettings())


@pytest.fixture
async def loaders(sandbox_url: str) -> AsyncIterator[Loaders]:
    sources: Sources = open_sources(sandbox_url)
    try:
        yield Loaders(sources)
    finally:
        await sources.aclose()


async def _ready() -> None:
    return None


async def test_no_time_left_names_the_system_never_asked(
    loaders: Loaders, sample: list[dict[str, Any]]
) -> None:
    with request_scope(0.0):
        context = await routing_context(
            loaders, _ready, ROUTING, sample[0]["phones"][0], None, None
        )
    assert context.matches is None and context.degraded == ("CRM",)
    assert context.rule == "context-unavailable"
    with request_scope(0.0):
        by_contact = await routing_context(
            loaders, _ready, ROUTING, None, None, "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
        )
    assert by_contact.degraded == ("CCAAS",)


async def test_in_time_the_answer_is_whole(loaders: Loaders, sample: list[dict[str, Any]]) -> None:
    with request_scope(2.0):
        context = await routing_context(loaders, _ready, ROUTING, None, sample[0]["id"], None)
    assert context.matches == 1 and context.degraded == ()
    assert context.needs_specialist is not None and context.open_cases is not None


async def test_a_call_still_out_at_the_deadline_is_degraded(
    loaders: Loaders, sample: list[dict[str, Any]], sandbox_url: str
) -> None:
    """The routing deadline holds even when a call's own budget would outlast it (a negative
    margin gives each attempt a second more than the request): the wait is cut, and the system
    it waited for is named."""
    await set_fault(sandbox_url, "ccaas", latency_ms=1000)
    try:
        with request_scope(2.0, margin=-1.0):
            context = await routing_context(loaders, _ready, ROUTING, None, sample[0]["id"], None)
    finally:
        await set_fault(sandbox_url, "ccaas", latency_ms=0)
    assert context.degraded == ("CCAAS",)
    assert context.repeat_contact is None and context.open_cases is not None


async def test_a_call_failing_after_the_deadline_logs_nothing(
    loaders: Loaders,
    sample: list[dict[str, Any]],
    sandbox_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A call the routing deadline stopped waiting for still ends (here: its own budget, a
    second past the deadline, runs out). Its error is nobody's now; before, each such call
    logged "Future exception was never retrieved" with a formatted traceback (~1-2 ms of CPU
    each), so a worker that fell behind its deadlines spent more CPU falling further behind."""
    await set_fault(sandbox_url, "ccaas", latency_ms=5000)
    try:
        with request_scope(2.0, margin=-1.0):
            context = await routing_context(loaders, _ready, ROUTING, None, sample[0]["id"], None)
            assert context.degraded == ("CCAAS",)
            with caplog.at_level(logging.ERROR, logger="asyncio"):
                await loaders.contacts_of.idle()  # the call ends (times out) by now
                del context
                gc.collect()
    finally:
        await set_fault(sandbox_url, "ccaas", latency_ms=0)
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


async def test_the_second_level_is_sent_without_waiting_turns(
    loaders: Loaders, sample: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cases, contacts and risk are asked for as soon as the CRM search answers: not after the
    loaders' batching turns (nothing else in the request adds a key to batch with them). Each
    turn lets other requests' work run first; six of them per level cost 3 ms on average and
    48 ms at the 99th percentile under load, on a critical path with 10 ms to spare."""
    loop = asyncio.get_running_loop()
    turns = 0

    def tick() -> None:
        nonlocal turns
        turns += 1
        if "done" not in seen:
            loop.call_soon(tick)

    seen: dict[str, int] = {}

    def watched(name: str, fetch: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            seen[name] = turns
            answer = await fetch(*args, **kwargs)
            seen[name + " answered"] = turns
            return answer

        return call

    sources = loaders.sources
    for system, name in (
        ("crm", "search_customers"),
        ("crm", "cases"),
        ("ccaas", "contacts_of"),
        ("core", "risk"),
    ):
        target = getattr(sources, system)
        monkeypatch.setattr(target, name, watched(name, getattr(target, name)))
    phones = [p for c in sample for p in c["phones"]]
    phone = next(p for p in phones if phones.count(p) == 1)  # one customer: two levels
    loop.call_soon(tick)
    try:
        with request_scope(2.0):
            context = await routing_context(loaders, _ready, ROUTING, phone, None, None)
    finally:
        seen["done"] = turns
    assert context.matches == 1 and context.degraded == ()
    answered = seen["search_customers answered"]
    assert "cases" in seen and "risk" in seen
    for name in ("cases", "contacts_of", "risk"):
        if name in seen:
            assert seen[name] - answered <= 3, seen


async def test_a_dispatched_batch_leaves_later_keys_batched_as_before() -> None:
    """`Loader.dispatch` sends what is queued; keys asked afterwards wait their turns and share
    one call, and the dispatch that was scheduled for the first batch sends nothing."""
    calls: list[list[str]] = []

    async def fetch(keys: list[str]) -> list[str]:
        calls.append(keys)
        return keys

    loader: Loader[str, str] = Loader(fetch)
    first = loader.load("a")
    loader.dispatch()
    await asyncio.sleep(0)
    assert calls == [["a"]]
    later = [loader.load("b"), loader.load("c")]
    assert await asyncio.gather(first, *later) == ["a", "b", "c"]
    await loader.idle()
    assert calls == [["a"], ["b", "c"]]
