"""The broker's promises (gateway/events/broker.py), one suite run against both brokers: the
in-process one and the Redis Streams one on a real redis-server. Dedupe, cursors, replay then
live, gaps, overflow and resume, cancellation, close."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import redis.asyncio as redis

from gateway.events.broker import (
    Broker,
    Delivery,
    Gap,
    InProcessBroker,
    InvalidCursor,
    Item,
    Overflow,
)
from gateway.events.mapping import CloudEvent
from gateway.events.redis_broker import RedisStreamsBroker
from tests.support.redis import redis_server


def event(n: int, source: str = "switchboard/core") -> CloudEvent:
    return CloudEvent(
        id=f"e-{n}", source=source, type="payment.posted", time="2026-12-06T03:00:00Z", subject="P"
    )


async def publish(broker: Broker, n: int) -> str:
    cursor = await broker.publish(event(n))
    assert cursor is not None
    return cursor


async def take(subscription: Any, n: int) -> list[Item]:
    items: list[Item] = []
    async with asyncio.timeout(20):  # a guard against hanging on a broken broker, no assertion
        async for item in subscription:
            items.append(item)
            if len(items) == n:
                break
    return items


async def rest(subscription: Any) -> list[Item]:
    """What is left until the subscription ends."""
    async with asyncio.timeout(20):  # as in `take`
        return [item async for item in subscription]


def ids(items: list[Item]) -> list[str]:
    return [i.event.id for i in items if isinstance(i, Delivery)]


Make = Callable[..., Broker]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(params=["in-process", "redis"])
async def make(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[Make]:
    """The same tests against both brokers; the Redis one on an empty server, whose streams
    are trimmed exactly (one entry per node: `MAXLEN ~` then keeps exactly the window)."""
    made: list[Broker] = []
    if request.param == "redis":
        client = redis.from_url(redis_url)
        await client.flushall()
        await client.config_set("stream-node-max-entries", 1)
        await client.aclose()

    def factory(**options: Any) -> Broker:
        broker: Broker
        if request.param == "redis":
            broker = RedisStreamsBroker(redis_url, block_ms=200, **options)
        else:
            broker = InProcessBroker(**options)
        made.append(broker)
        return broker

    yield factory
    for broker in made:
        await broker.aclose()


async def test_the_same_event_is_published_once(make: Make) -> None:
    broker = make()
    subscription = broker.subscribe()
    assert await broker.publish(event(1)) is not None
    assert await broker.publish(event(1)) is None
    # the same id from another source is another event
    assert await broker.publish(event(1, "switchboard/crm")) is not None
    await broker.publish(event(2))
    items = await take(subscription, 3)
    assert ids(items) == ["e-1", "e-1", "e-2"]
    assert [i.event.source for i in items if isinstance(i, Delivery)][:2] == [
        "switchboard/core",
        "switchboard/crm",
    ]


async def test_cursors_increase_in_publish_order(make: Make) -> None:
    """What "increase" means to a client: after any cursor come exactly the later events."""
    broker = make()
    cursors = [await publish(broker, n) for n in range(8)]
    assert all(isinstance(c, str) for c in cursors) and len(set(cursors)) == 8
    for k in (0, 3, 6):
        assert ids(await take(broker.subscribe(after=cursors[k]), 7 - k)) == [
            f"e-{n}" for n in range(k + 1, 8)
        ]


async def test_replay_after_a_cursor_exactly_once_then_live(make: Make) -> None:
    broker = make()
    cursors = [await publish(broker, n) for n in range(5)]
    subscription = broker.subscribe(after=cursors[1])
    await publish(broker, 5)
    assert await broker.publish(event(3)) is None  # a duplicate: not delivered again
    assert ids(await take(subscription, 4)) == ["e-2", "e-3", "e-4", "e-5"]
    await publish(broker, 6)
    assert ids(await take(subscription, 1)) == ["e-6"]
    await subscription.aclose()


async def test_without_a_cursor_a_subscription_is_live_only(make: Make) -> None:
    broker = make()
    await publish(broker, 1)
    first = broker.subscribe()
    await publish(broker, 2)
    assert ids(await take(first, 1)) == ["e-2"]
    # and once the broker is running: what was published before subscribing is not delivered
    await publish(broker, 3)
    second = broker.subscribe()
    await publish(broker, 4)
    assert ids(await take(second, 1)) == ["e-4"]
    assert ids(await take(first, 2)) == ["e-3", "e-4"]


@pytest.mark.parametrize("cursor", ["", "nonsense", "abc-", "abc-xyz!", "1-" + "1" * 80])
async def test_a_malformed_cursor_is_refused(make: Make, cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        make().subscribe(after=cursor)


async def test_the_window_is_bounded_and_an_older_cursor_yields_a_gap(make: Make) -> None:
    broker = make(window=3)
    cursors = [await publish(broker, n) for n in range(6)]
    items = await take(broker.subscribe(after=cursors[0]), 4)
    assert isinstance(items[0], Gap)
    assert ids(items[1:]) == ["e-3", "e-4", "e-5"]
    # a cursor in the window: nothing lost, no gap
    assert await take(broker.subscribe(after=cursors[3]), 2) == [
        Delivery(cursors[4], event(4)),
        Delivery(cursors[5], event(5)),
    ]


async def test_a_slow_subscriber_gets_an_overflow_marker_and_can_resume(make: Make) -> None:
    broker = make(queue_size=2)
    slow = broker.subscribe()
    fast = broker.subscribe()
    cursors = [await publish(broker, n) for n in range(2)]
    assert ids(await take(fast, 2)) == ["e-0", "e-1"]  # keeps up
    for n in range(2, 4):
        await publish(broker, n)
    # once `fast` has e-3, every subscriber was offered it (the Redis reader offers each entry
    # to all of them at once): `slow`'s queue held two and dropped the rest
    assert ids(await take(fast, 2)) == ["e-2", "e-3"]
    items = await take(slow, 3)
    assert ids(items[:2]) == ["e-0", "e-1"]
    assert items[2] == Overflow(resume_from=cursors[1])
    assert await rest(slow) == []  # the subscription has ended
    assert broker.subscribers == 1
    # resuming from the marker's cursor delivers what the slow one missed, exactly once
    resumed = broker.subscribe(after=cursors[1])
    assert ids(await take(resumed, 2)) == ["e-2", "e-3"]
    await publish(broker, 4)
    assert ids(await take(resumed, 1)) == ["e-4"]
    assert ids(await take(fast, 1)) == ["e-4"]  # the fast subscriber was not affected


async def test_a_cancelled_subscriber_leaves_nothing_behind(make: Make) -> None:
    broker = make()
    tasks_before = asyncio.all_tasks()
    held = []  # a server keeps its subscriptions somewhere: cancelling must still unregister
    got = asyncio.Event()

    async def consume() -> None:
        subscription = broker.subscribe()
        held.append(subscription)
        async for _ in subscription:
            got.set()

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)  # subscribed
    await publish(broker, 1)
    await got.wait()  # and waiting for the next event
    assert broker.subscribers == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert broker.subscribers == 0
    await publish(broker, 2)  # publishing to nobody is fine
    await broker.aclose()  # the Redis broker's reader with it
    assert asyncio.all_tasks() == tasks_before


async def test_a_subscriber_abandoned_mid_iteration_is_dropped(make: Make) -> None:
    broker = make()
    subscription = broker.subscribe()
    await publish(broker, 1)
    assert await take(subscription, 1)
    del subscription  # broke out of its loop and let go, without aclose
    assert broker.subscribers == 0


async def test_closing_the_broker_ends_its_subscriptions(make: Make) -> None:
    broker = make()
    idle = broker.subscribe()
    waiting = broker.subscribe()
    got = asyncio.Event()

    async def consume() -> list[Item]:
        items = []
        async for item in waiting:
            items.append(item)
            got.set()
        return items

    task = asyncio.create_task(consume())
    await publish(broker, 1)
    await got.wait()
    await asyncio.sleep(0)  # the consumer waits for the next event
    await broker.aclose()
    async with asyncio.timeout(20):  # a consumer waiting when the broker closed ends too
        assert ids(await task) == ["e-1"]
    assert ids(await rest(idle)) == []
    assert broker.subscribers == 0


# -- the in-process broker's own --------------------------------------------------------------


async def test_the_window_snapshot_is_what_a_full_replay_delivers() -> None:
    broker = InProcessBroker(window=3)
    for n in range(6):
        await publish(broker, n)
    assert [d.event.id for d in broker.window()] == ["e-3", "e-4", "e-5"]


async def test_the_cursor_just_before_the_window_yields_no_gap() -> None:
    """In-process the broker knows it; Redis does not keep trimmed ids, so it gives a `Gap`
    there too (the safe side: nothing is hidden)."""
    broker = InProcessBroker(window=3)
    cursors = [await publish(broker, n) for n in range(6)]
    assert await take(broker.subscribe(after=cursors[2]), 3) == list(broker.window())


async def test_a_cursor_of_another_process_yields_a_gap_and_the_window() -> None:
    broker = InProcessBroker()
    await publish(broker, 1)
    assert await take(InProcessBroker().subscribe(after="00000000-1"), 1) == [Gap()]
    items = await take(broker.subscribe(after="abcdef01-1"), 2)
    assert isinstance(items[0], Gap) and ids(items[1:]) == ["e-1"]


async def test_a_subscription_s_filter_keeps_what_it_declines_out_of_its_queue(
    make: Make,
) -> None:
    """`wants` is asked as an event is fanned out: a declined event is never queued for that
    subscription (so it cannot fill its queue either); the others still get it."""
    broker = make(queue_size=3)
    even = broker.subscribe(wants=lambda e: int(e.id.split("-")[1]) % 2 == 0)
    every = broker.subscribe()
    for n in range(6):
        await publish(broker, n)
    # six events went by; the filtered subscription queued the three even ones and has room,
    # the other's queue of 3 overflowed
    assert ids(await take(even, 3)) == ["e-0", "e-2", "e-4"]
    got = await rest(every)
    assert ids(got) == ["e-0", "e-1", "e-2"] and isinstance(got[-1], Overflow)
    await publish(broker, 6)
    assert ids(await take(even, 1)) == ["e-6"]
    await even.aclose()
