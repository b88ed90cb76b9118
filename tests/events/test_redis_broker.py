"""The Redis Streams broker (gateway/events/redis_broker.py) against a real redis-server, what
only it promises: replicas (two broker instances on one Redis) share events, dedupe and the
export stream; killed connections and restarts lose nothing. The delivery rules both brokers
share are tests/events/test_broker.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as redis

from gateway.events.broker import Delivery, Gap, InProcessBroker
from gateway.events.redis_broker import EXPORT_STREAM, STREAM, RedisStreamsBroker
from tests.events.test_broker import event, ids, take
from tests.support.redis import redis_process, redis_server


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


async def test_an_event_published_on_one_replica_reaches_the_other_once(replicas: Any) -> None:
    a, b = replicas
    subscription = b.subscribe()
    await b.reading()  # across replicas: from when B's reader knows where it starts
    await a.publish(event(1))
    await a.publish(event(2))
    assert ids(await take(subscription, 2)) == ["e-1", "e-2"]
    await a.publish(event(3))
    assert ids(await take(subscription, 1)) == ["e-3"]  # nothing twice in between
    await subscription.aclose()


async def test_a_duplicate_on_another_replica_is_dropped(replicas: Any, redis_url: str) -> None:
    a, b = replicas
    assert await a.publish(event(1)) is not None
    assert await b.publish(event(1)) is None
    client = redis.from_url(redis_url)
    assert await client.xlen(STREAM) == 1
    assert await client.xlen(EXPORT_STREAM) == 1
    await client.aclose()


async def test_the_export_stream_gets_each_event_once(replicas: Any, redis_url: str) -> None:
    a, b = replicas
    cursors = [await a.publish(event(n)) for n in range(3)]
    await b.publish(event(1))
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
    assert orjson.loads(fields["event"]) == event(0).as_dict()


async def test_a_reconnecting_subscriber_gets_what_it_missed_once(replicas: Any) -> None:
    a, b = replicas
    subscription = b.subscribe()
    await b.reading()  # across replicas: from when B's reader knows where it starts
    await a.publish(event(0))
    (seen,) = await take(subscription, 1)
    assert isinstance(seen, Delivery)
    await subscription.aclose()
    for n in range(1, 4):
        await a.publish(event(n))
    again = b.subscribe(after=seen.cursor)
    assert ids(await take(again, 3)) == ["e-1", "e-2", "e-3"]
    await a.publish(event(4))
    assert ids(await take(again, 1)) == ["e-4"]
    await again.aclose()


async def test_a_trimmed_cursor_yields_a_gap(redis_url: str) -> None:
    client = redis.from_url(redis_url)
    await client.config_set("stream-node-max-entries", 2)  # `MAXLEN ~` trims almost exactly
    await client.aclose()
    broker = RedisStreamsBroker(redis_url, window=3, block_ms=200)
    cursors = [await broker.publish(event(n)) for n in range(12)]
    items = await take(broker.subscribe(after=cursors[0]), 2)
    assert isinstance(items[0], Gap) and isinstance(items[1], Delivery)
    items = await take(broker.subscribe(after=cursors[10]), 1)
    assert ids(items) == ["e-11"]  # within the window: no gap
    # a cursor beyond the stream: Redis lost its data; start over with a gap
    items = await take(broker.subscribe(after="99999999999999-0"), 2)
    assert isinstance(items[0], Gap) and isinstance(items[1], Delivery)
    await broker.aclose()


async def test_killed_connections_lose_nothing(redis_url: str) -> None:
    """The server stays, every client connection is cut (`CLIENT KILL TYPE normal`): the reader
    reconnects and reads on from its last id, so what was published meanwhile arrives."""
    a, b = RedisStreamsBroker(redis_url, block_ms=200), RedisStreamsBroker(redis_url, block_ms=200)
    subscription = b.subscribe()
    await b.reading()  # across replicas: from when B's reader knows where it starts
    await a.publish(event(0))
    assert ids(await take(subscription, 1)) == ["e-0"]
    admin: Any = redis.from_url(redis_url)
    await admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    for n in range(1, 4):
        await a.publish(event(n))
    assert ids(await take(subscription, 3)) == ["e-1", "e-2", "e-3"]
    await admin.aclose()
    await subscription.aclose()
    await a.aclose()
    await b.aclose()


async def test_a_redis_restart_mid_stream(tmp_path: Path) -> None:
    """A restart with its data kept (AOF: the deployment doc asks for it): the reader reconnects,
    the live subscriber keeps receiving, and a cursor from before the restart replays exactly
    once. (Without persistence the stream is gone, and an old cursor yields a `Gap`.)"""
    with redis_process(persist_in=tmp_path) as server:
        a = RedisStreamsBroker(server.url, block_ms=200)
        b = RedisStreamsBroker(server.url, block_ms=200)
        live = b.subscribe()
        await b.reading()  # across replicas: from when B's reader knows where it starts
        cursor = await a.publish(event(0))
        assert ids(await take(live, 1)) == ["e-0"]
        server.restart()
        with pytest.raises(redis.ConnectionError):  # the pooled connection died: the vendor
            await a.publish(event(1))  # gets an error and delivers again
        for n in range(1, 3):
            await a.publish(event(n))
        assert ids(await take(live, 2)) == ["e-1", "e-2"]
        assert await b.publish(event(1)) is None  # the dedupe keys survived too
        replay = b.subscribe(after=cursor)
        assert ids(await take(replay, 2)) == ["e-1", "e-2"]
        await replay.aclose()
        await live.aclose()
        await a.aclose()
        await b.aclose()


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


async def test_an_entry_this_version_cannot_read_is_skipped(redis_url: str) -> None:
    """A rolling upgrade: a newer replica may write fields this one does not know, or anything
    else may land in the stream; the reader goes on (it stopped for good before)."""
    broker = RedisStreamsBroker(redis_url, block_ms=200)
    subscription = broker.subscribe()
    await broker.publish(event(0))
    assert ids(await take(subscription, 1)) == ["e-0"]
    client: Any = redis.from_url(redis_url)
    newer = {**event(1).as_dict(), "traceparent": "00-abc-def-01"}
    await client.xadd(STREAM, {"event": "not json"})
    await client.xadd(STREAM, {"something": "else"})
    await client.xadd(STREAM, {"event": orjson.dumps(newer)})
    await client.aclose()
    await broker.publish(event(2))
    assert ids(await take(subscription, 2)) == ["e-1", "e-2"]
    # and a replay over those entries skips them too
    assert ids(await take(broker.subscribe(after="0-0"), 3)) == ["e-0", "e-1", "e-2"]
    await broker.aclose()


async def test_publish_fails_while_redis_is_unreachable_then_recovers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redis down when the first subscriber comes: publishing raises (the webhook answers 5xx,
    the vendor delivers again) instead of waiting for the reader forever; once Redis is up,
    the reader's backoff retries reach it and events flow."""
    monkeypatch.setattr("gateway.events.redis_broker._READY_SECONDS", 0.5)
    with redis_process() as server:
        server.stop()
        broker = RedisStreamsBroker(server.url, block_ms=200)
        subscription = broker.subscribe()
        with pytest.raises(redis.ConnectionError):
            async with asyncio.timeout(20):  # a guard: it hung here before
                await broker.publish(event(1))
        server.start()
        async with asyncio.timeout(20):
            while True:  # the vendor delivering again until it is accepted
                try:
                    await broker.publish(event(1))
                    break
                except redis.ConnectionError:
                    await asyncio.sleep(0.1)
        assert ids(await take(subscription, 1)) == ["e-1"]
        await broker.aclose()


async def test_closing_while_redis_is_unreachable_ends_a_waiting_subscription() -> None:
    """A subscription waiting for a reader that cannot start (Redis down) ends when the broker
    closes (the app's shutdown), instead of waiting forever."""
    with redis_process() as server:
        server.stop()
        broker = RedisStreamsBroker(server.url, block_ms=200)
        waiting = asyncio.create_task(take(broker.subscribe(), 1))
        await asyncio.sleep(0)  # the subscription waits for the reader
        await broker.aclose()
        async with asyncio.timeout(20):  # a guard: it waited forever before
            assert await waiting == []


async def test_the_reader_backs_off_while_redis_is_down_and_starts_over_once_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)
        await asyncio.sleep(0.01)  # the schedule is what is tested, not its length

    async def until(count: int) -> None:
        async with asyncio.timeout(20):  # a guard, no assertion on the time
            while len(pauses) < count:  # noqa: ASYNC110 (the reader's own progress)
                await asyncio.sleep(0.01)

    monkeypatch.setattr("gateway.events.redis_broker._pause", pause)
    with redis_process() as server:
        broker = RedisStreamsBroker(server.url, block_ms=200)
        subscription = broker.subscribe()
        await broker.publish(event(0))
        assert ids(await take(subscription, 1)) == ["e-0"]
        server.stop()
        await until(9)
        assert pauses[:9] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]  # doubling, capped
        server.start()
        async with asyncio.timeout(20):
            while True:  # the vendor delivering again until it is accepted
                try:
                    await broker.publish(event(1))
                    break
                except redis.ConnectionError:
                    await asyncio.sleep(0.05)
        assert ids(await take(subscription, 1)) == ["e-1"]
        seen = len(pauses)
        server.stop()
        await until(seen + 2)
        assert pauses[seen : seen + 2] == [0.05, 0.1]  # a success started the schedule over
        await broker.aclose()
