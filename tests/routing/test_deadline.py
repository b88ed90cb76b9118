"""The routing deadline at the resolver: whatever did not answer in time is in `degraded`, even a
system the time ran out before asking."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.routing import RoutingSettings, load_routing
from resolvers import Loaders
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
