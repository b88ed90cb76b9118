"""The Redis Streams broker: the `Broker` of gateway/events/broker.py shared by replicas.

Why Streams and not Pub/Sub: Pub/Sub loses what is published while a replica is disconnected,
and redis-py's asyncio Pub/Sub does not reconnect by itself (EVENTS-RESEARCH.md §0.5). A stream
keeps a bounded window (`XADD MAXLEN ~ window`), so a replica that lost its connection reads on
from the last id it saw, and a client resumes from its cursor (the entry id).

- publish: one Lua script, atomic on the server: `SET seen-key NX EX ttl` on the event's
  (source, id), which dedupes across replicas, then `XADD` to the stream and to the export stream
  (docs/events-export.md). A duplicate adds nothing.
- one reader task per broker: `XREAD BLOCK` from the last id it saw, fanned out to this
  replica's subscribers (`QueuedSubscriber`, the in-process broker's rules); on a connection
  error it reconnects with backoff and resumes from that id.
- subscribe(after): replays `XRANGE (after reader-position]` (with `Gap` first when entries
  after `after` were trimmed, or when `after` is beyond the stream: Redis lost it), then the
  live fan-out of what the reader reads from that position on; ids at or below the last
  delivered one are skipped at the seam, so nothing twice and nothing lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import weakref
from collections.abc import Awaitable, Callable
from types import MappingProxyType
from typing import Any

import orjson

from gateway.events.broker import (
    Broker,
    Delivery,
    Gap,
    InProcessBroker,
    InvalidCursor,
    Item,
    QueuedSubscriber,
    Route,
    Wants,
    fan_out,
)
from gateway.events.mapping import CloudEvent
from gateway.events.routes import Routes
from gateway.events.settings import EventSettings
from gateway.redis_client import redis_client

__all__ = ["EXPORT_STREAM", "STREAM", "RedisStreamsBroker", "broker_of"]

log = logging.getLogger("gateway.events")

STREAM = "switchboard:events"
EXPORT_STREAM = "switchboard:events:export"
_CURSOR = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
_PAGE = 500
_READY_SECONDS = 5.0
_pause: Callable[[float], Awaitable[None]] = asyncio.sleep
"""The reader's wait between reconnect attempts (a test records the backoff through it)."""

_PUBLISH = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return false end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'event', ARGV[4])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'cursor', id, 'id', ARGV[5],
  'source', ARGV[6], 'type', ARGV[7], 'time', ARGV[8], 'event', ARGV[4])
return id
"""


def _key(cursor: str) -> tuple[int, int]:
    ms, _, seq = cursor.partition("-")
    return int(ms), int(seq)


_ENVELOPE = (
    "id",
    "source",
    "type",
    "time",
    "subject",
    "specversion",
    "datacontenttype",
    "traceparent",
)


def _decode(raw: str | None) -> CloudEvent | None:
    """The entry's event; None for one this version cannot read. Fields it does not know are
    left out: during a rolling upgrade a newer replica may write them, and an older one's
    reader must not stop at them (nor at anything else written to the stream)."""
    try:
        fields = orjson.loads(raw or b"")
        data = fields.get("data") or {}
        received = fields.get("sbreceived")
        return CloudEvent(
            **{name: str(fields[name]) for name in _ENVELOPE if name in fields},
            data=MappingProxyType({str(k): str(v) for k, v in data.items()}),
            received=float(received) if isinstance(received, int | float) else 0.0,
        )
    except (orjson.JSONDecodeError, TypeError, AttributeError):
        return None


class _Subscriber(QueuedSubscriber):
    """A `QueuedSubscriber` whose replay is read at its first `__anext__` (it needs Redis).

    Its queue gets what the replica's reader reads after `subscribe` (ids above the reader's
    position then, `upto`); its replay is `(after, upto]`, so the two never overlap: a queue
    filled with entries the replay also holds would overflow (or not) depending on when the
    reader ran, and a slow subscriber could wait for an `Overflow` that never came. Ids at or
    below the newest handed over are still skipped at the seam: a live-only subscriber starts
    after the newest id this replica knows, which the reader may not have read yet."""

    __slots__ = ("_after", "_broker", "_replayed", "_upto")

    def __init__(
        self,
        broker: RedisStreamsBroker,
        after: str | None,
        size: int,
        wants: Wants | None,
        route: Route | None,
    ) -> None:
        # live only: after the newest id known now, or where the reader starts (see _fill)
        start = after or broker._head or ""
        super().__init__(broker._subscribers, broker._routes, start, size, wants=wants, route=route)
        self._broker = broker
        self._after = after
        self._upto = broker._last_read  # None: the reader has not started; it starts there
        self._replayed = False

    async def _fill(self) -> None:
        if self._replayed:
            return
        self._replayed = True
        await self._broker._ready.wait()
        if self.closed:  # the broker closed meanwhile
            return
        upto = self._upto or self._broker._start
        if not self._last:
            self._last = upto
        if self._after is not None:
            self._backlog.extend(await self._broker._replay(self._after, upto))
            if self._backlog and isinstance(self._backlog[0], Gap):
                # starting over (the cursor's entries are gone, or Redis lost them and it is
                # from the stream's future): every entry from here on is new to the subscriber
                self._last = "0-0"

    def _fresh(self, cursor: str) -> bool:
        return _key(cursor) > _key(self._last)


class RedisStreamsBroker:
    def __init__(
        self,
        url: str,
        *,
        window: int = 10_000,
        export_maxlen: int = 100_000,
        queue_size: int = 64,
        dedupe_seconds: int = 600,
        stream: str = STREAM,
        export_stream: str = EXPORT_STREAM,
        block_ms: int = 1_000,
    ) -> None:
        if window < 1 or queue_size < 1 or export_maxlen < 1 or dedupe_seconds < 1:
            raise ValueError("window, export_maxlen, queue_size, dedupe_seconds must be >= 1")
        # Any: redis-py types replies as bytes | str | None whatever decode_responses says.
        # A publish finding every connection in use waits for one (gateway/redis_client.py).
        self._redis: Any = redis_client(url, decode_responses=True)
        self._script = self._redis.register_script(_PUBLISH)
        self._window, self._export_maxlen = window, export_maxlen
        self._queue_size, self._dedupe_seconds = queue_size, dedupe_seconds
        self._stream, self._export_stream, self._block_ms = stream, export_stream, block_ms
        self._subscribers: weakref.WeakSet[QueuedSubscriber] = weakref.WeakSet()
        self._routes = Routes()
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()  # the reader knows where it starts
        self._last_read: str | None = None
        self._start = "0-0"  # where the reader started: live-only subscribers from before
        self._head: str | None = None  # the newest id this replica published or read
        self._closed = False

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def reading(self) -> None:
        """Once this replica's reader knows where it starts. A live-only subscription sees what
        this replica publishes after it subscribed (`publish` waits for the reader); what
        another replica publishes counts from here: across processes, "after subscribing"
        means after this."""
        await self._ready.wait()

    async def publish(self, event: CloudEvent) -> str | None:
        if self._reader is not None and not self._ready.is_set():
            # a live-only subscriber from before is to see this one, so the reader starts
            # first; while Redis is unreachable, fail (the vendor delivers again) not hang
            try:
                async with asyncio.timeout(_READY_SECONDS):
                    await self._ready.wait()
            except TimeoutError:
                from redis.exceptions import ConnectionError as Unreachable

                raise Unreachable(
                    "Redis is unreachable: the events reader has not started"
                ) from None
        seen = hashlib.sha256(f"{event.source} {event.id}".encode()).hexdigest()
        cursor: str | None = await self._script(
            keys=[f"{self._stream}:seen:{seen}", self._stream, self._export_stream],
            args=[
                self._dedupe_seconds,
                self._window,
                self._export_maxlen,
                event.to_json().decode(),
                event.id,
                event.source,
                event.type,
                event.time,
            ],
        )
        if cursor is not None:
            self._advance(cursor)
        return cursor

    def subscribe(
        self, after: str | None = None, wants: Wants | None = None, route: Route | None = None
    ) -> _Subscriber:
        if after is not None and _CURSOR.fullmatch(after) is None:
            raise InvalidCursor("not a cursor of this broker")
        if self._closed:
            raise RuntimeError("the broker is closed")
        subscriber = _Subscriber(self, after, self._queue_size, wants, route)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name="events-redis-reader")
        return subscriber

    async def aclose(self) -> None:
        self._closed = True
        await self._routes.aclose()
        for subscriber in list(self._subscribers):
            await subscriber.aclose()
        self._ready.set()  # wakes what waits for a reader that will not start now
        if self._reader is not None:
            # cancelling a task inside a redis-py read is not always honoured (the cancel can be
            # lost in its read timeout on Python 3.11, and the read goes on): the reader also
            # stops by itself once its XREAD BLOCK returns and it sees the broker closed
            self._reader.cancel()
            await asyncio.wait({self._reader}, timeout=self._block_ms / 1000 + 5)
            if not self._reader.done():
                log.warning("events: the Redis reader did not stop")
        # redis-py #3941: aclose() may hang waiting for a dead connection to close
        with contextlib.suppress(TimeoutError, OSError):
            async with asyncio.timeout(5):
                await self._redis.aclose()

    def _advance(self, cursor: str) -> None:
        if self._head is None or _key(cursor) > _key(self._head):
            self._head = cursor

    async def _replay(self, after: str, upto: str) -> list[Item]:
        """What a subscription delivers before the live fan-out: the entries after `after` up to
        `upto` (the reader's position when it subscribed)."""
        items: list[Item] = []
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xinfo_stream(self._stream)
            pipe.xrange(self._stream, min=f"({after}", max=upto, count=_PAGE)
            info, page = await pipe.execute(raise_on_error=False)
        if isinstance(info, Exception):  # no stream: never written, or Redis lost it
            return [Gap()] if _key(after) > (0, 0) else []
        if isinstance(page, Exception):
            raise page
        trimmed = info.get("max-deleted-entry-id") or "0-0"
        if _key(after) > _key(info["last-generated-id"]):
            # a cursor from the stream's future: Redis restarted without its data; start over
            return [Gap(), *await self._range("-", upto)]
        first = info.get("first-entry")
        # trimming does not move max-deleted-entry-id (XDEL does): entries were trimmed when
        # more were added than are left, and `after` is before the first one left. A cursor of
        # exactly the last trimmed entry gets a Gap too: the safe side, nothing is hidden.
        trimmed_before = int(info.get("entries-added", 0)) > int(info.get("length", 0))
        if _key(after) < _key(trimmed) or (
            trimmed_before and first is not None and _key(after) < _key(first[0])
        ):
            items.append(Gap())
        items.extend(self._deliveries(page))
        if len(page) == _PAGE:
            items.extend(await self._range(f"({page[-1][0]}", upto))
        return items

    async def _range(self, start: str, upto: str) -> list[Item]:
        items: list[Item] = []
        while True:
            page = await self._redis.xrange(self._stream, min=start, max=upto, count=_PAGE)
            items.extend(self._deliveries(page))
            if len(page) < _PAGE:
                return items
            start = f"({page[-1][0]}"

    def _deliveries(self, entries: list[tuple[str, dict[str, str]]]) -> list[Delivery]:
        deliveries = []
        for cursor, fields in entries:
            event = _decode(fields.get("event"))
            if event is None:
                log.warning("events: stream entry %s is not an event this version reads", cursor)
            else:
                deliveries.append(Delivery(cursor, event))
        return deliveries

    async def _read(self) -> None:
        """The replica's one reader: fans every new entry out to the local subscribers, and
        owns its reconnect (redis-py #2089): backoff, then on from the last id it saw."""
        from redis.exceptions import RedisError

        backoff = 0.05
        while not self._closed:
            try:
                if self._last_read is None:
                    newest = await self._redis.xrevrange(self._stream, count=1)
                    self._last_read = self._start = newest[0][0] if newest else "0-0"
                    self._ready.set()
                response = await self._redis.xread(
                    {self._stream: self._last_read}, count=_PAGE, block=self._block_ms
                )
                backoff = 0.05
            except (RedisError, OSError) as exc:
                # unreachable, or every connection of the pool busy past its wait: say what
                # failed, not why it might have (gateway/redis_client.py)
                log.warning("events: reading from Redis failed, retrying (%s)", type(exc).__name__)
                await _pause(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if self._closed:
                return
            for _stream, entries in response or []:
                if entries:  # on past what cannot be read too
                    self._last_read = entries[-1][0]
                    self._advance(entries[-1][0])
                for delivery in self._deliveries(entries):
                    self._last_read = delivery.cursor
                    self._advance(delivery.cursor)
                    fan_out(self._subscribers, self._routes, delivery)


def broker_of(settings: EventSettings) -> Broker:
    """The app's broker: Redis Streams when `[events] redis_url` is set, else in-process."""
    if settings.redis_url:
        return RedisStreamsBroker(
            settings.redis_url, window=settings.window, export_maxlen=settings.export_maxlen
        )
    return InProcessBroker(window=settings.window)
