"""The in-process broker (gateway/events/broker.py): dedupe, cursors, replay, overflow,
cancellation."""

from __future__ import annotations

import asyncio

import pytest

from gateway.events.broker import Delivery, Gap, InProcessBroker, InvalidCursor, Item, Overflow
from gateway.events.mapping import CloudEvent


def _event(n: int, source: str = "switchboard/core") -> CloudEvent:
    return CloudEvent(
        id=f"e-{n}",
        source=source,
        type="payment.posted",
        time="2026-12-06T02:40:00Z",
        subject="P-1",
    )


async def _publish(broker: InProcessBroker, n: int) -> str:
    cursor = await broker.publish(_event(n))
    assert cursor is not None
    return cursor


async def _take(subscription: object, n: int) -> list[Item]:
    items: list[Item] = []
    async with asyncio.timeout(10):  # a guard against hanging on a broken broker, no assertion
        async for item in subscription:  # type: ignore[attr-defined]
            items.append(item)
            if len(items) == n:
                break
    return items


async def test_the_same_event_is_published_once() -> None:
    broker = InProcessBroker()
    assert await broker.publish(_event(1)) is not None
    assert await broker.publish(_event(1)) is None
    # the same id from another source is another event
    assert await broker.publish(_event(1, "switchboard/crm")) is not None
    assert [d.event.source for d in broker.window()] == ["switchboard/core", "switchboard/crm"]


async def test_cursors_increase_and_are_strings() -> None:
    broker = InProcessBroker()
    cursors = [await broker.publish(_event(n)) for n in range(20)]
    assert all(isinstance(c, str) for c in cursors)
    assert len(set(cursors)) == 20


async def test_replay_after_a_cursor_delivers_each_later_event_exactly_once_then_live() -> None:
    broker = InProcessBroker()
    cursors = [await broker.publish(_event(n)) for n in range(5)]
    subscription = broker.subscribe(after=cursors[1])
    await broker.publish(_event(5))
    await broker.publish(_event(3))  # a duplicate: not delivered again
    items = await _take(subscription, 4)
    assert [i.event.id for i in items if isinstance(i, Delivery)] == ["e-2", "e-3", "e-4", "e-5"]
    await broker.publish(_event(6))
    (live,) = await _take(subscription, 1)
    assert isinstance(live, Delivery) and live.event.id == "e-6"
    await subscription.aclose()


async def test_without_a_cursor_a_subscription_is_live_only() -> None:
    broker = InProcessBroker()
    await broker.publish(_event(1))
    subscription = broker.subscribe()
    await broker.publish(_event(2))
    (item,) = await _take(subscription, 1)
    assert isinstance(item, Delivery) and item.event.id == "e-2"
    await subscription.aclose()


async def test_the_window_is_bounded_and_an_older_cursor_yields_a_gap() -> None:
    broker = InProcessBroker(window=3)
    cursors = [await broker.publish(_event(n)) for n in range(6)]
    assert [d.event.id for d in broker.window()] == ["e-3", "e-4", "e-5"]
    items = await _take(broker.subscribe(after=cursors[0]), 4)
    assert isinstance(items[0], Gap)
    assert [i.event.id for i in items[1:] if isinstance(i, Delivery)] == ["e-3", "e-4", "e-5"]
    # the cursor just before the window: nothing lost, no gap
    items = await _take(broker.subscribe(after=cursors[2]), 3)
    assert [i.event.id for i in items if isinstance(i, Delivery)] == ["e-3", "e-4", "e-5"]


async def test_a_cursor_of_another_process_yields_a_gap_and_the_window() -> None:
    broker = InProcessBroker()
    await broker.publish(_event(1))
    items = await _take(InProcessBroker().subscribe(after="00000000-1"), 1)
    assert items == [Gap()]
    items = await _take(broker.subscribe(after="abcdef01-1"), 2)
    assert isinstance(items[0], Gap) and isinstance(items[1], Delivery)


@pytest.mark.parametrize("cursor", ["", "nonsense", "abc-", "abc-xyz!", "a-" + "1" * 80])
def test_a_malformed_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        InProcessBroker().subscribe(after=cursor)


async def test_a_slow_subscriber_gets_an_overflow_marker_and_can_resume() -> None:
    broker = InProcessBroker(queue_size=2)
    slow = broker.subscribe()
    fast = broker.subscribe()
    cursors = [await _publish(broker, n) for n in range(2)]
    assert await _take(fast, 2)  # keeps up
    for n in range(2, 4):
        await broker.publish(_event(n))
    items = await _take(slow, 3)
    assert [i.event.id for i in items[:2] if isinstance(i, Delivery)] == ["e-0", "e-1"]
    assert items[2] == Overflow(resume_from=cursors[1])
    assert [i async for i in slow] == []  # the subscription has ended
    assert broker.subscribers == 1
    # resuming from the marker's cursor delivers what the slow one missed, exactly once
    items = await _take(broker.subscribe(after=cursors[1]), 2)
    assert [i.event.id for i in items if isinstance(i, Delivery)] == ["e-2", "e-3"]
    # the fast subscriber was not affected
    items = await _take(fast, 2)
    assert [i.event.id for i in items if isinstance(i, Delivery)] == ["e-2", "e-3"]


async def test_a_cancelled_subscriber_leaves_nothing_behind() -> None:
    broker = InProcessBroker()
    tasks_before = asyncio.all_tasks()
    started = asyncio.Event()

    held = []  # a server keeps its subscriptions somewhere: cancelling must still unregister

    async def consume() -> None:
        subscription = broker.subscribe()
        held.append(subscription)
        started.set()
        async for _ in subscription:
            pass

    task = asyncio.create_task(consume())
    await started.wait()
    await asyncio.sleep(0)  # the consumer is waiting for an event
    assert broker.subscribers == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert broker.subscribers == 0
    assert asyncio.all_tasks() == tasks_before
    await broker.publish(_event(1))  # publishing to nobody is fine


async def test_a_subscriber_abandoned_mid_iteration_is_dropped() -> None:
    broker = InProcessBroker()
    subscription = broker.subscribe()
    await broker.publish(_event(1))
    assert await _take(subscription, 1)
    del subscription  # broke out of its loop and let go, without aclose
    assert broker.subscribers == 0


async def test_closing_the_broker_ends_its_subscriptions() -> None:
    broker = InProcessBroker()
    subscription = broker.subscribe()
    await broker.aclose()
    assert [i async for i in subscription] == []
    assert broker.subscribers == 0
