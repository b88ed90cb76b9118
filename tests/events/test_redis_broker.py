"""The Redis Streams broker (gateway/events/redis_broker.py) against a real redis-server: the
in-process broker's delivery rules, shared by replicas (two broker instances on one Redis)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as redis

from gateway.events.broker import Broker, Delivery, Gap, InProcessBroker, InvalidCursor, Item
from gateway.events.mapping import CloudEvent
from gateway.events.redis_broker import EXPORT_STREAM, STREAM, RedisStreamsBroker
from tests.support.redis import redis_server


def _event(n: int, source: str = "switchboard/core") -> CloudEvent:
    return CloudEvent(
        id=f"e-{n}", source=source, type="payment.posted", time="2026-12-06T03:00:00Z", subject="P"
    )


async def _take(subscription: Any, n: int) -> list[Item]:
    items: list[Item] = []
    async with asyncio.timeout(20):  # a guard against hanging on a broken broker, no assertion
        async for item in subscription:
            items.append(item)
            if len(items) == n:
                break
    return items


def _ids(items: list[Item]) -> list[str]:
    return [i.event.id for i in items if isinstance(i, Delivery)]


@pytest.fixture
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture
async def replicas(redis_url: str) -> AsyncIterator[tuple[RedisStreamsBroker, RedisStreamsBroker]]:
    a, b = RedisStreamsBroker(redis_url, block_ms=200), RedisStreamsBroker(redis_url, block_ms=200)
    yield a, b
    await a.aclose()
    await b.aclose()


@pytest.fixture(params=["in-process", "redis"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., Broker]]:
    """The same behaviour tests against both brokers."""
    made: list[Broker] = []
    with redis_server() as url:

        def factory(**options: Any) -> Broker:
            broker: Broker
            if request.param == "redis":
                broker = RedisStreamsBroker(url, block_ms=200, **options)
            else:
                broker = InProcessBroker(**options)
            made.append(broker)
            return broker

        yield factory
        for broker in made:
            await broker.aclose()


# -- the delivery rules, for both brokers --------------------------------------------------


async def test_both_publish_once_and_replay_exactly_once_then_live(make: Any) -> None:
    broker = make()
    cursors = [await broker.publish(_event(n)) for n in range(5)]
    assert all(isinstance(c, str) for c in cursors) and len(set(cursors)) == 5
    assert await broker.publish(_event(3)) is None
    assert await broker.publish(_event(3, "switchboard/crm")) is not None
    subscription = broker.subscribe(after=cursors[1])
    await broker.publish(_event(5))
    items = await _take(subscription, 5)
    assert _ids(items) == ["e-2", "e-3", "e-4", "e-3", "e-5"]
    await broker.publish(_event(6))
    assert _ids(await _take(subscription, 1)) == ["e-6"]
    await subscription.aclose()


async def test_both_live_only_without_a_cursor(make: Any) -> None:
    broker = make()
    await broker.publish(_event(1))
    subscription = broker.subscribe()
    await broker.publish(_event(2))
    assert _ids(await _take(subscription, 1)) == ["e-2"]
    await subscription.aclose()


@pytest.mark.parametrize("cursor", ["", "nonsense", "abc-", "abc-xyz!", "1-" + "1" * 80])
async def test_both_refuse_a_malformed_cursor(make: Any, cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        make().subscribe(after=cursor)


async def test_both_end_subscriptions_on_close(make: Any) -> None:
    broker = make()
    subscription = broker.subscribe()
    await broker.aclose()
    assert [i async for i in subscription] == []


# -- Redis only -----------------------------------------------------------------------------


async def test_an_event_published_on_one_replica_reaches_the_other_once(replicas: Any) -> None:
    a, b = replicas
    subscription = b.subscribe()
    await a.publish(_event(1))
    await a.publish(_event(2))
    assert _ids(await _take(subscription, 2)) == ["e-1", "e-2"]
    await a.publish(_event(3))
    assert _ids(await _take(subscription, 1)) == ["e-3"]  # nothing twice in between
    await subscription.aclose()


async def test_a_duplicate_on_another_replica_is_dropped(replicas: Any, redis_url: str) -> None:
    a, b = replicas
    assert await a.publish(_event(1)) is not None
    assert await b.publish(_event(1)) is None
    client = redis.from_url(redis_url)
    assert await client.xlen(STREAM) == 1
    assert await client.xlen(EXPORT_STREAM) == 1
    await client.aclose()


async def test_the_export_stream_gets_each_event_once(replicas: Any, redis_url: str) -> None:
    a, b = replicas
    cursors = [await a.publish(_event(n)) for n in range(3)]
    await b.publish(_event(1))
    client: Any = redis.from_url(redis_url, decode_responses=True)
    entries = await client.xrange(EXPORT_STREAM)
    await client.aclose()
    assert [fields["cursor"] for _, fields in entries] == cursors
    _, fields = entries[0]
    assert (fields["id"], fields["source"], fields["type"]) == (
        "e-0",
        "switchboard/core",
        "payment.posted",
    )
    assert orjson.loads(fields["event"]) == _event(0).as_dict()


async def test_a_reconnecting_subscriber_gets_what_it_missed_once(replicas: Any) -> None:
    a, b = replicas
    subscription = b.subscribe()
    await a.publish(_event(0))
    (seen,) = await _take(subscription, 1)
    assert isinstance(seen, Delivery)
    await subscription.aclose()
    for n in range(1, 4):
        await a.publish(_event(n))
    again = b.subscribe(after=seen.cursor)
    assert _ids(await _take(again, 3)) == ["e-1", "e-2", "e-3"]
    await a.publish(_event(4))
    assert _ids(await _take(again, 1)) == ["e-4"]
    await again.aclose()


async def test_a_trimmed_cursor_yields_a_gap(redis_url: str) -> None:
    client = redis.from_url(redis_url)
    await client.config_set("stream-node-max-entries", 2)  # `MAXLEN ~` trims almost exactly
    await client.aclose()
    broker = RedisStreamsBroker(redis_url, window=3, block_ms=200)
    cursors = [await broker.publish(_event(n)) for n in range(12)]
    items = await _take(broker.subscribe(after=cursors[0]), 2)
    assert isinstance(items[0], Gap) and isinstance(items[1], Delivery)
    items = await _take(broker.subscribe(after=cursors[10]), 1)
    assert _ids(items) == ["e-11"]  # within the window: no gap
    # a cursor beyond the stream: Redis lost its data; start over with a gap
    items = await _take(broker.subscribe(after="99999999999999-0"), 2)
    assert isinstance(items[0], Gap) and isinstance(items[1], Delivery)
    await broker.aclose()


async def test_a_cancelled_subscriber_leaves_no_task_behind(redis_url: str) -> None:
    broker = RedisStreamsBroker(redis_url, block_ms=200)
    tasks_before = asyncio.all_tasks()
    started = asyncio.Event()
    held = []

    async def consume() -> None:
        subscription = broker.subscribe()
        held.append(subscription)
        started.set()
        async for _ in subscription:
            pass

    task = asyncio.create_task(consume())
    await started.wait()
    await asyncio.sleep(0.1)  # the consumer is waiting for an event
    assert broker.subscribers == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert broker.subscribers == 0
    await broker.publish(_event(1))
    await broker.aclose()  # and the reader with it
    assert asyncio.all_tasks() == tasks_before


async def test_killed_connections_lose_nothing(redis_url: str) -> None:
    """The server stays, every client connection is cut (`CLIENT KILL TYPE normal`): the reader
    reconnects and reads on from its last id, so what was published meanwhile arrives."""
    a, b = RedisStreamsBroker(redis_url, block_ms=200), RedisStreamsBroker(redis_url, block_ms=200)
    subscription = b.subscribe()
    await a.publish(_event(0))
    assert _ids(await _take(subscription, 1)) == ["e-0"]
    admin: Any = redis.from_url(redis_url)
    await admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    for n in range(1, 4):
        await a.publish(_event(n))
    assert _ids(await _take(subscription, 3)) == ["e-1", "e-2", "e-3"]
    await admin.aclose()
    await subscription.aclose()
    await a.aclose()
    await b.aclose()


def _start(port: int, folder: Path) -> subprocess.Popen[bytes]:
    server = shutil.which("redis-server")
    assert server is not None
    process = subprocess.Popen(
        [
            *(server, "--port", str(port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "yes", "--appendfsync", "always", "--dir", str(folder)),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    return process


async def test_a_redis_restart_mid_stream(tmp_path: Path) -> None:
    """A restart with its data kept (AOF: the deployment doc asks for it): the reader reconnects,
    the live subscriber keeps receiving, and a cursor from before the restart replays exactly
    once. (Without persistence the stream is gone, and an old cursor yields a `Gap`.)"""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"redis://127.0.0.1:{port}/0"
    process = _start(port, tmp_path)
    a, b = RedisStreamsBroker(url, block_ms=200), RedisStreamsBroker(url, block_ms=200)
    try:
        live = b.subscribe()
        cursor = await a.publish(_event(0))
        assert _ids(await _take(live, 1)) == ["e-0"]
        process.terminate()
        process.wait(timeout=10)
        process = _start(port, tmp_path)
        with pytest.raises(redis.ConnectionError):  # the pooled connection died: the vendor
            await a.publish(_event(1))  # gets an error and delivers again
        for n in range(1, 3):
            await a.publish(_event(n))
        assert _ids(await _take(live, 2)) == ["e-1", "e-2"]
        assert await b.publish(_event(1)) is None  # the dedupe keys survived too
        replay = b.subscribe(after=cursor)
        assert _ids(await _take(replay, 2)) == ["e-1", "e-2"]
        await replay.aclose()
        await live.aclose()
    finally:
        await a.aclose()
        await b.aclose()
        process.terminate()
        process.wait(timeout=10)


async def test_the_app_uses_redis_when_configured(redis_url: str) -> None:
    from gateway.app import create_app
    from gateway.config import build_config
    from gateway.demo import demo_config

    raw = demo_config(0, 9)
    assert isinstance(create_app(build_config(raw, env={})).state.events, InProcessBroker)
    raw["events"] = {"redis_url": redis_url, "window": 50}
    broker = create_app(build_config(raw, env={})).state.events
    assert isinstance(broker, RedisStreamsBroker)
    await broker.aclose()
