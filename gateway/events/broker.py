"""The event broker: canonical events in, subscribers out, with a bounded replay window.

`Broker` is the seam; `InProcessBroker` is the default (one process, nothing to install). A
Redis Streams broker (XADD with MAXLEN, XREAD from a cursor) can stand behind the same Protocol
when there are several replicas (EVENTS-RESEARCH.md R-a).

Delivery rules, the same for any implementation:
- an event is published once per (source, id) within the dedupe window: vendors deliver at least
  once, so the same event may come in twice;
- every published event gets a cursor, a string opaque to clients, increasing in publish order;
- `subscribe(after)` replays what is still in the window after `after`, then goes live; with
  no cursor it is live only. A cursor older than the window yields `Gap` first (some events are
  gone), then the whole window;
- a subscriber that does not keep up is not waited for: its bounded queue fills, it gets
  `Overflow(resume_from)` and its subscription ends; subscribing again from `resume_from`
  delivers the rest while it is still in the window. Other subscribers are unaffected.
"""

from __future__ import annotations

import asyncio
import secrets
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from gateway.events.dedupe import TtlSet
from gateway.events.mapping import CloudEvent

__all__ = [
    "Broker",
    "Delivery",
    "Gap",
    "InProcessBroker",
    "InvalidCursor",
    "Item",
    "Overflow",
    "QueuedSubscriber",
    "Subscription",
    "Wants",
    "fan_out",
]


@dataclass(frozen=True, slots=True)
class Delivery:
    cursor: str
    event: CloudEvent


@dataclass(frozen=True, slots=True)
class Gap:
    """Events between the subscriber's cursor and the window's start are gone."""


@dataclass(frozen=True, slots=True)
class Overflow:
    """This subscriber fell behind and was cut off; subscribe again after `resume_from`."""

    resume_from: str


Item = Delivery | Gap | Overflow

Wants = Callable[[CloudEvent], bool]
"""A subscription's filter, asked as each event is fanned out (`Broker.subscribe`)."""


class InvalidCursor(ValueError):
    """The cursor is not one this broker hands out."""


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[Item]: ...
    async def __anext__(self) -> Item: ...
    async def aclose(self) -> None: ...


class Broker(Protocol):
    async def publish(self, event: CloudEvent) -> str | None:
        """The event's cursor, or None for a duplicate (nothing delivered)."""
        ...

    def subscribe(self, after: str | None = None, wants: Wants | None = None) -> Subscription:
        """Replay after `after`, then live. `wants`, if given, is asked synchronously as an
        event is fanned out, and what it declines is not queued for this subscription (not
        even woken for): a filter that saves work, never a promise a consumer relies on."""
        ...

    @property
    def subscribers(self) -> int:
        """Open subscriptions in this process: none is left once its consumer is gone."""
        ...

    async def aclose(self) -> None: ...


class QueuedSubscriber:
    """One subscription, as both brokers fan out to it: a backlog (the replay), then a bounded
    queue of the live fan-out. The rules they share live here once:
    - `offer` never waits: a full queue marks the subscriber overflowed and drops the rest;
    - once what was queued before the overflow is handed over, `Overflow(resume_from)` with the
      newest cursor handed over (or the one it started after), and the subscription ends;
    - a cursor at or before the newest one handed over is skipped (`_fresh`): the seam between
      a replay and the live queue, nothing twice;
    - any exit (aclose, cancellation, an error while waiting) unregisters it, frees what it
      held and wakes a consumer waiting on the queue. Its broker holds it weakly: one its
      consumer dropped is gone with its last reference.
    Subclasses add `_fill` (the Redis broker reads its replay there) and `_fresh`."""

    __slots__ = ("__weakref__", "_backlog", "_home", "_last", "_overflowed", "_queue", "_wants")

    def __init__(
        self,
        home: weakref.WeakSet[QueuedSubscriber],
        start: str,
        size: int,
        backlog: Iterable[Item] = (),
        wants: Wants | None = None,
    ) -> None:
        self._home: weakref.WeakSet[QueuedSubscriber] | None = home
        self._wants = wants
        self._backlog: deque[Item] = deque(backlog)
        self._queue: asyncio.Queue[Delivery | None] = asyncio.Queue(size)
        self._overflowed = False
        self._last = start
        """The newest cursor handed over (at first the one it starts after): the seam and the
        resume point."""
        home.add(self)

    @property
    def closed(self) -> bool:
        return self._home is None

    def offer(self, delivery: Delivery) -> None:
        if self._overflowed or self._home is None:
            return
        if self._wants is not None and not self._wants(delivery.event):
            return
        try:
            self._queue.put_nowait(delivery)
        except asyncio.QueueFull:
            self._overflowed = True

    def __aiter__(self) -> QueuedSubscriber:
        return self

    async def __anext__(self) -> Item:
        try:
            while True:
                if self._home is None:
                    raise StopAsyncIteration
                await self._fill()
                item: Item | None
                if self._backlog:
                    item = self._backlog.popleft()
                elif self._overflowed and self._queue.empty():
                    resume = self._last
                    await self.aclose()
                    return Overflow(resume)
                else:
                    item = await self._queue.get()
                if item is None:  # closed while waiting
                    continue
                if isinstance(item, Delivery):
                    if not self._fresh(item.cursor):
                        continue
                    self._last = item.cursor
                return item
        except BaseException:  # cancelled, or the broker failed: leave nothing registered
            await self.aclose()
            raise

    async def _fill(self) -> None:
        """Called before each item; the in-process backlog is complete from the start."""

    def _fresh(self, cursor: str) -> bool:
        """Not handed over yet; in-process the queue never repeats the backlog."""
        return True

    async def aclose(self) -> None:
        home, self._home = self._home, None
        if home is None:
            return
        home.discard(self)
        self._backlog.clear()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)  # wakes a consumer waiting on the queue: it ends


def fan_out(subscribers: weakref.WeakSet[QueuedSubscriber], delivery: Delivery) -> None:
    """Offer `delivery` to each subscriber (none of them is waited for)."""
    for subscriber in list(subscribers):
        subscriber.offer(delivery)


class InProcessBroker:
    def __init__(
        self,
        *,
        window: int = 10_000,
        queue_size: int = 64,
        dedupe_seconds: float = 600.0,
        dedupe_size: int = 100_000,
    ) -> None:
        if window < 1 or queue_size < 1:
            raise ValueError("window and queue_size must be at least 1")
        # cursors carry this process's epoch: one from before a restart is not mistaken for a
        # position in this process's window
        self._epoch = secrets.token_hex(4)
        self._seq = 0
        self._ring: deque[Delivery] = deque(maxlen=window)
        self._seen = TtlSet(dedupe_seconds, dedupe_size)
        self._queue_size = queue_size
        self._subscribers: weakref.WeakSet[QueuedSubscriber] = weakref.WeakSet()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def window(self) -> list[Delivery]:
        """What a replay from the oldest cursor would deliver (a snapshot, for tests and
        diagnostics)."""
        return list(self._ring)

    async def publish(self, event: CloudEvent) -> str | None:
        if not self._seen.add((event.source, event.id)):
            return None
        self._seq += 1
        delivery = Delivery(f"{self._epoch}-{self._seq:x}", event)
        self._ring.append(delivery)
        fan_out(self._subscribers, delivery)
        return delivery.cursor

    def subscribe(self, after: str | None = None, wants: Wants | None = None) -> QueuedSubscriber:
        # the backlog is taken and the subscriber registered with no await in between: nothing
        # published in the meantime is missed or delivered twice
        backlog = self._backlog(after)
        start = after or (self._ring[-1].cursor if self._ring else f"{self._epoch}-0")
        return QueuedSubscriber(self._subscribers, start, self._queue_size, backlog, wants)

    async def aclose(self) -> None:
        for subscriber in list(self._subscribers):
            await subscriber.aclose()

    def _backlog(self, after: str | None) -> list[Item]:
        if after is None:
            return []
        epoch, dash, number = after.partition("-")
        try:
            seq = int(number, 16) if dash and number.isalnum() else -1
        except ValueError:
            seq = -1
        if seq < 0 or len(after) > 64:
            raise InvalidCursor("not a cursor of this broker")
        oldest = self._seq - len(self._ring) + 1  # the first sequence still in the window
        if epoch != self._epoch or seq > self._seq:
            # another process's cursor (a restart), or one from its future: start over
            return [Gap(), *self._ring]
        if seq + 1 < oldest:
            return [Gap(), *self._ring]
        return [d for d in self._ring if _seq_of(d.cursor) > seq]


def _seq_of(cursor: str) -> int:
    return int(cursor.rpartition("-")[2], 16)
