"""Cancellation and unexpected errors at the transport, in the style of graphql-core's
`tests/execution/test_cancellation.py`: cancel at each point an attempt can be suspended (in
flight, waiting for a bulkhead slot, sleeping before a retry, as a half-open probe) and check
that the CancelledError reaches the caller and that the breaker, the bulkhead and the retry
budget are left in a defined state that lets the next call through.

Cancellation is common: a failing non-null root field cancels its siblings (graphql-core's
`gather_with_cancel`, `execute_plan`), and shutdown cancels everything in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from sources import (
    SourceCircuitOpen,
    SourceOverloaded,
    SourceSettings,
    SourceUnavailable,
    Transport,
    request_scope,
)
from sources.transport import MockExchange, Reply, Request
from sources.transport.resilience import Bulkhead

BASE = "http://core.internal.example:9000/core"


class Gate:
    """A back-end whose calls wait until the test opens the gate; `entered` is set as soon as
    a call has reached it (so the test knows the attempt is in flight, without sleeping)."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.open = asyncio.Event()
        self.calls = 0
        self.answer: Reply | Exception = Reply(200, b'{"ok": true}')

    async def __call__(self, request: Request) -> Reply:
        self.calls += 1
        self.entered.set()
        await self.open.wait()
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def transport(gate: Gate, **settings: Any) -> Transport:
    return Transport(
        SourceSettings(name="core", base_url=BASE, **settings),
        exchange=MockExchange.serving(gate),
    )


async def until(condition: Callable[[], bool]) -> None:
    """A few turns of the event loop until `condition` holds (no wall-clock waiting)."""
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


async def cancelled(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and check the CancelledError reached it (nothing swallowed it)."""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


async def tripped(gate: Gate) -> Transport:
    """A transport whose circuit two 503s have opened, its open period already over."""
    clock = Clock()
    t = transport(gate, retries=0, breaker_min_calls=2, breaker_open_seconds=5.0)
    t.breaker.clock = clock
    gate.open.set()
    gate.answer = Reply(503, b"{}")
    for _ in range(2):
        with pytest.raises(SourceUnavailable):
            await t.get_json("/x")
    assert t.breaker.state == "open"
    with pytest.raises(SourceCircuitOpen):
        await t.get_json("/x")
    clock.now += 5.0
    return t


async def test_a_cancelled_half_open_probe_lets_the_next_call_probe() -> None:
    """REVIEW D2: the probe was cancelled, so it proved nothing; the system is healthy again
    and the next call must go out and close the circuit (it used to get CIRCUIT_OPEN for the
    life of the process)."""
    gate = Gate()
    t = await tripped(gate)
    gate.open.clear()
    gate.entered.clear()
    gate.answer = Reply(200, b'{"ok": true}')
    probe = asyncio.create_task(t.get_json("/x"))
    await gate.entered.wait()
    assert t.breaker.state == "half_open"
    await cancelled(probe)

    gate.open.set()
    calls = gate.calls
    assert await t.get_json("/x") == {"ok": True}
    assert gate.calls == calls + 1 and t.breaker.state == "closed"
    await t.aclose()


async def test_a_probe_that_raises_unexpectedly_releases_the_probe() -> None:
    gate = Gate()
    t = await tripped(gate)
    gate.answer = RuntimeError("a bug, not the system's failure")
    with pytest.raises(RuntimeError):
        await t.get_json("/x")
    assert t.breaker.state == "half_open"

    gate.answer = Reply(200, b'{"ok": true}')
    assert await t.get_json("/x") == {"ok": True}
    assert t.breaker.state == "closed"
    await t.aclose()


async def test_a_call_cancelled_in_flight_is_no_verdict_on_the_system() -> None:
    """Neither a failure nor a success: with a 100% failure ratio over 2 calls, one failure,
    one cancelled call and one more failure open the circuit only if the cancelled call was
    not tallied at all."""
    gate = Gate()
    t = transport(gate, retries=0, breaker_min_calls=2, breaker_failure_ratio=1.0)
    gate.open.set()
    gate.answer = Reply(503, b"{}")
    with pytest.raises(SourceUnavailable):
        await t.get_json("/x")

    gate.open.clear()
    gate.entered.clear()
    call = asyncio.create_task(t.get_json("/x"))
    await gate.entered.wait()
    assert t.bulkhead.in_flight == 1
    await cancelled(call)
    assert t.bulkhead.in_flight == 0 and t.bulkhead.waiting == 0
    assert t.breaker.state == "closed"

    gate.open.set()
    with pytest.raises(SourceUnavailable):
        await t.get_json("/x")
    assert t.breaker.state == "open"
    await t.aclose()


async def test_a_call_cancelled_while_waiting_for_a_slot_leaves_the_bulkhead_counts_right() -> None:
    gate = Gate()
    t = transport(gate, retries=0, max_in_flight=1, max_queue=1, max_connections=1)
    holder = asyncio.create_task(t.get_json("/x"))
    await gate.entered.wait()
    waiter = asyncio.create_task(t.get_json("/x"))
    await until(lambda: t.bulkhead.waiting == 1)
    with pytest.raises(SourceOverloaded):  # the queue (1) is full
        await t.get_json("/x")

    await cancelled(waiter)
    assert t.bulkhead.waiting == 0 and t.bulkhead.in_flight == 1
    assert gate.calls == 1  # the waiter never reached the system

    gate.open.set()
    assert await holder == {"ok": True}
    assert t.bulkhead.in_flight == 0
    # the freed slot and queue place serve the next calls
    assert list(await asyncio.gather(t.get_json("/x"), t.get_json("/x"))) == [{"ok": True}] * 2
    assert t.breaker.state == "closed"
    await t.aclose()


async def test_a_slot_handed_to_a_waiter_cancelled_before_it_ran_is_not_lost() -> None:
    bulkhead = Bulkhead("core", max_in_flight=1, max_queue=1)

    async def use() -> None:
        async with bulkhead.slot(5.0):
            pass

    async with bulkhead.slot(5.0):
        waiter = asyncio.create_task(use())
        await until(lambda: bulkhead.waiting == 1)
    # the slot was just handed to the waiter, which has not run yet
    await cancelled(waiter)
    assert bulkhead.waiting == 0 and bulkhead.in_flight == 0
    async with bulkhead.slot(0.01):  # free at once: the handed-over slot came back
        assert bulkhead.in_flight == 1


async def test_a_call_cancelled_while_sleeping_before_a_retry_refunds_the_retry() -> None:
    gate = Gate()
    gate.open.set()
    gate.answer = Reply(429, b"{}", headers={"retry-after": "5"})
    t = transport(gate, retries=2, retry_max_delay=10.0)
    call = asyncio.create_task(t.get_json("/x"))
    after_deposit = t.retry_budget.tokens + t.retry_budget.ratio
    await gate.entered.wait()
    await until(lambda: t.retry_budget.tokens < after_deposit - 0.5)  # paid for: asleep
    await cancelled(call)
    assert t.retry_budget.tokens == pytest.approx(after_deposit)  # the retry never went out
    assert gate.calls == 1
    assert t.breaker.state == "closed" and t.bulkhead.in_flight == 0

    gate.answer = Reply(200, b'{"ok": true}')
    assert await t.get_json("/x") == {"ok": True}
    await t.aclose()


async def test_a_congested_bulkhead_never_opens_a_healthy_systems_circuit() -> None:
    """REVIEW D8: calls refused by the bulkhead (queue full, or no slot freed in their time)
    were never sent, so they say nothing about the system: SOURCE_OVERLOADED, breaker
    untouched."""
    gate = Gate()
    t = transport(
        gate,
        retries=0,
        max_in_flight=1,
        max_queue=2,
        max_connections=1,
        breaker_min_calls=2,
        breaker_failure_ratio=0.5,
    )
    holder = asyncio.create_task(t.get_json("/x"))  # no scope: the source's 2 s
    await gate.entered.wait()

    async def short_call() -> Any:
        with request_scope(timeout=0.02, margin=0.0):
            return await t.get_json("/x")

    for _ in range(3):
        results = await asyncio.gather(*(short_call() for _ in range(4)), return_exceptions=True)
        assert all(isinstance(r, SourceOverloaded) for r in results), results
        codes = {r.code for r in results if isinstance(r, SourceOverloaded)}
        assert codes == {"SOURCE_OVERLOADED"}
    assert t.breaker.state == "closed"
    assert t.bulkhead.waiting == 0 and gate.calls == 1

    gate.open.set()
    assert await holder == {"ok": True}
    assert await t.get_json("/x") == {"ok": True}
    assert t.breaker.state == "closed"
    await t.aclose()
