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
from collections.abc import AsyncIterator
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
    "Subscription",
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

    def subscribe(self, after: str | None = None) -> Subscription: ...

    async def aclose(self) -> None: ...


class _Subscriber:
    """One subscription of the in-process broker. The broker holds it weakly: a subscription
    its consumer dropped (cancelled, broke out of its loop) is gone with its last reference."""

    __slots__ = ("__weakref__", "_backlog", "_broker", "_last", "overflowed", "queue")

    def __init__(self, broker: InProcessBroker, backlog: list[Item], size: int) -> None:
        self._broker: InProcessBroker | None = broker
        self._backlog = deque(backlog)
        self.queue: asyncio.Queue[Delivery] = asyncio.Queue(size)
        self.overflowed: str | None = None
        """The last cursor queued before the queue overflowed."""
        self._last: str | None = None

    def offer(self, delivery: Delivery) -> None:
        if self.overflowed is not None:
            return
        try:
            self.queue.put_nowait(delivery)
        except asyncio.QueueFull:
            # the queue is full, so something was queued: its newest is the resume point
            self.overflowed = self._last
        else:
            self._last = delivery.cursor

    def __aiter__(self) -> _Subscriber:
        return self

    async def __anext__(self) -> Item:
        if self._broker is None:
            raise StopAsyncIteration
        if self._backlog:
            return self._backlog.popleft()
        if self.overflowed is not None and self.queue.empty():
            resume = self.overflowed
            await self.aclose()
            return Overflow(resume)
        try:
            return await self.queue.get()
        except BaseException:  # cancelled: leave nothing registered behind
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if self._broker is not None:
            self._broker._subscribers.discard(self)
            self._broker = None
        self._backlog.clear()


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
        self._subscribers: weakref.WeakSet[_Subscriber] = weakref.WeakSet()

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
        for subscriber in list(self._subscribers):
            subscriber.offer(delivery)
        return delivery.cursor

    def subscribe(self, after: str | None = None) -> _Subscriber:
        # the backlog is taken and the subscriber registered with no await in between: nothing
        # published in the meantime is missed or delivered twice
        subscriber = _Subscriber(self, self._backlog(after), self._queue_size)
        self._subscribers.add(subscriber)
        return subscriber

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
