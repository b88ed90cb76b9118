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
  delivers the rest while it is still in the window. Other subscribers are unaffected;
- an event whose subscriber is known only after a read (an offered contact: its agent) is
  routed to that subscriber alone, in publish order, once (gateway/events/routes.py).
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
from gateway.events.routes import Route, Routes

__all__ = [
    "Broker",
    "Delivery",
    "Gap",
    "InProcessBroker",
    "InvalidCursor",
    "Item",
    "Overflow",
    "QueuedSubscriber",
    "Route",
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

    def subscribe(
        self, after: str | None = None, wants: Wants | None = None, route: Route | None = None
    ) -> Subscription:
        """Replay after `after`, then live. `wants`, if given, is asked synchronously as an
        event is fanned out, and what it declines is not queued for this subscription (not
        even woken for): a filter that saves work, never a promise a consumer relies on. With
        a `route`, the events its router routes come only if the router finds them this
        subscriber's (gateway/events/routes.py): replayed events are not routed."""
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
    - a subscription with a `Route` is not offered its router's routed events: one is `place`d
      in its queue, in fan-out order, once the router knows it is this subscriber's, and a later
      event waits until every earlier routed one is settled (gateway/events/routes.py);
    - any exit (aclose, cancellation, an error while waiting) unregisters it, frees what it
      held and wakes a consumer waiting for the queue. Its broker holds it weakly: one its
      consumer dropped is gone with its last reference.
    Subclasses add `_fill` (the Redis broker reads its replay there) and `_fresh`."""

    __slots__ = (
        "__weakref__",
        "_backlog",
        "_home",
        "_last",
        "_overflowed",
        "_queue",
        "_routes",
        "_size",
        "_waiter",
        "_wants",
        "joined",
        "route",
    )

    def __init__(
        self,
        home: weakref.WeakSet[QueuedSubscriber],
        routes: Routes,
        start: str,
        size: int,
        backlog: Iterable[Item] = (),
        wants: Wants | None = None,
        route: Route | None = None,
    ) -> None:
        self._home: weakref.WeakSet[QueuedSubscriber] | None = home
        self._routes = routes
        self._wants = wants
        self._backlog: deque[Item] = deque(backlog)
        self._queue: deque[tuple[int, Delivery]] = deque()
        """The live fan-out, (tick, delivery) in tick order, at most `_size`."""
        self._size = size
        self._waiter: asyncio.Future[None] | None = None
        self._overflowed = False
        self._last = start
        """The newest cursor handed over (at first the one it starts after): the seam and the
        resume point."""
        self.route = route
        self.joined = routes.tick
        """The fan-out's tick when it subscribed: what came later is live, the rest replayed."""
        home.add(self)
        if route is not None:
            routes.join(self, route)

    @property
    def closed(self) -> bool:
        return self._home is None

    def offer(self, tick: int, delivery: Delivery) -> None:
        """The fan-out's, in tick order."""
        if self._overflowed or self._home is None:
            return
        if self._wants is not None and not self._wants(delivery.event):
            return
        if len(self._queue) >= self._size:
            self._overflowed = True
            return
        self._queue.append((tick, delivery))
        self.wake()

    def place(self, tick: int, delivery: Delivery) -> None:
        """A routed delivery, this subscriber's, once its router knows: in tick order. One that
        does not fit overflows the subscription before it: nothing queued after it is handed
        over, so `Overflow.resume_from` comes before it and resuming delivers it."""
        if self._home is None:
            return
        if self._wants is not None and not self._wants(delivery.event):
            return
        queue = self._queue
        if self._overflowed or len(queue) >= self._size:
            self._overflowed = True
            while queue and queue[-1][0] > tick:
                queue.pop()
            return
        at = len(queue)
        while at and queue[at - 1][0] > tick:
            at -= 1
        queue.insert(at, (tick, delivery))
        self.wake()

    def wake(self) -> None:
        """Something changed: a consumer waiting looks again."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def __aiter__(self) -> QueuedSubscriber:
        return self

    async def __anext__(self) -> Item:
        try:
            while True:
                if self._home is None:
                    raise StopAsyncIteration
                await self._fill()
                if self._home is None:  # closed while it filled
                    raise StopAsyncIteration
                item: Item
                if self._backlog:
                    item = self._backlog.popleft()
                else:
                    live = self._next_live()
                    if live is None:
                        if self._overflowed and not self._queue:
                            resume = self._last
                            await self.aclose()
                            return Overflow(resume)
                        await self._sleep()  # an event, a routed one settled, or closed
                        continue
                    item = live
                if isinstance(item, Delivery):
                    if not self._fresh(item.cursor):
                        continue
                    self._last = item.cursor
                return item
        except BaseException:  # cancelled, or the broker failed: leave nothing registered
            await self.aclose()
            raise

    def _next_live(self) -> Delivery | None:
        """The queue's first delivery, unless it is empty or an earlier routed event may still
        be placed before it (then woken once that one is settled)."""
        if not self._queue:
            return None
        tick, delivery = self._queue[0]
        if self.route is not None:
            earlier = self._routes.blocking(self, self.route, tick)
            if earlier is not None:
                earlier.blocked.add(self)
                return None
        self._queue.popleft()
        return delivery

    async def _sleep(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

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
        if self.route is not None:
            self._routes.leave(self, self.route)
        self._backlog.clear()
        self._queue.clear()
        self.wake()  # a consumer waiting for the queue: it ends


def fan_out(
    subscribers: weakref.WeakSet[QueuedSubscriber], routes: Routes, delivery: Delivery
) -> None:
    """Offer `delivery` to each subscriber (none of them is waited for) but those whose router
    routes it: they get it once it knows whose it is (`Routes.advance`)."""
    tick, routing = routes.advance(delivery)
    for subscriber in list(subscribers):
        route = subscriber.route
        if route is not None and route.router in routing:
            continue
        subscriber.offer(tick, delivery)


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
        self._routes = Routes()

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
        fan_out(self._subscribers, self._routes, delivery)
        return delivery.cursor

    def subscribe(
        self, after: str | None = None, wants: Wants | None = None, route: Route | None = None
    ) -> QueuedSubscriber:
        # the backlog is taken and the subscriber registered with no await in between: nothing
        # published in the meantime is missed or delivered twice
        backlog = self._backlog(after)
        start = after or (self._ring[-1].cursor if self._ring else f"{self._epoch}-0")
        return QueuedSubscriber(
            self._subscribers, self._routes, start, self._queue_size, backlog, wants, route
        )

    async def aclose(self) -> None:
        await self._routes.aclose()
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
