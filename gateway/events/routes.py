"""Routed events: an event whose subscriber is known only after a read goes to that subscriber
alone, not to every subscriber that might be it.

An offered contact names no agent (Amazon Connect's INITIATED carries no `agentInfo`). Fanned
out by `wants` alone, it woke every screen-pop feed of a replica, and each asked the shared read
(gateway/events/reads.py) whether the contact was its own: with 1,000 agents, 1,000 feeds woken
twice each, ~33 ms of CPU per offered call (bench/events_fanout.py), most of it before the
owner's frame. Here a `Router` (one per replica: the shared reads) says which events it routes
and, once per event, whose each is (the subject it belongs to); subscriptions made with a
`Route` — that router and the subscriber's (issuer, subject) — are indexed by subject, and a
routed event goes, once its owner is known, to the owner's subscriptions only. The router's
other subscriptions are never queued nor woken for it; subscriptions without a route get it by
their `wants`, as any event.

What routing keeps of the broker's rules (gateway/events/broker.py):
- order: a subscriber is handed its events in publish order. A routed event is placed in a
  subscriber's queue in publish order once its owner is known, and a later event is not handed
  to a subscription of that router while an earlier routed event is unresolved (it may be that
  subscription's): the wait each feed had when it asked the read itself;
- exactly once: a routed event goes only to subscriptions made before it was fanned out; a later
  one has it in its replay (the in-process ring, or the Redis stream), and decides it itself;
- overflow: a routed event that does not fit ends the subscription before it (nothing after it
  is handed over), so resuming from `Overflow.resume_from` delivers it;
- a router that cannot say (the read failed, timed out, or the broker closed): nobody is handed
  the event, as when every subscriber's own read failed.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from gateway.events.mapping import CloudEvent

if TYPE_CHECKING:
    from gateway.events.broker import Delivery, QueuedSubscriber

__all__ = ["ROUTE_SECONDS", "Pending", "Route", "Router", "Routes"]

log = logging.getLogger("gateway.events")

ROUTE_SECONDS = 30.0
"""At most this long to learn an event's owner (the read has its own deadline first): the
router's subscriptions wait for it before their later events."""


class Router(Protocol):
    """Learns whose an event is when the event does not say. One per replica: its subscribers
    share one answer per event. Hashable (by identity)."""

    def routed(self, event: CloudEvent) -> bool:
        """Does this router decide who gets the event? Asked synchronously at fan-out."""
        ...

    async def owner(self, delivery: Delivery) -> str | None:
        """The subject the event belongs to (None: nobody's)."""
        ...


@dataclass(frozen=True, slots=True)
class Route:
    """A subscription's: the router that decides its routed events, and who it is."""

    router: Router
    key: tuple[str, str]
    """(issuer, subject): a `sub` is unique only within its issuer. The router answers a
    subject; every subscription of that subject on the router gets the event, and decides it
    itself (a feed admits only the issuers whose subjects the router's answers are)."""


@dataclass(eq=False, slots=True)
class Pending:
    """A routed event whose owner is not known yet."""

    tick: int
    delivery: Delivery
    router: Router
    blocked: set[QueuedSubscriber] = field(default_factory=set)
    """Subscriptions waiting for it before a later event: woken once it is settled."""


_Index = dict[str, dict[str, "weakref.WeakSet[QueuedSubscriber]"]]
"""subject -> issuer -> the subscriptions of that (issuer, subject)."""


class Routes:
    """One broker's routing: the fan-out's clock (`tick`, one per event fanned out in this
    process), its routed subscriptions by router and subject, and the routed events whose owner
    is being learned (in fan-out order)."""

    def __init__(self) -> None:
        self.tick = 0
        self._index: dict[Router, _Index] = {}
        self._pending: dict[int, Pending] = {}  # insertion order is tick order
        self._learning: set[asyncio.Task[None]] = set()

    def join(self, subscriber: QueuedSubscriber, route: Route) -> None:
        issuer, subject = route.key
        by_issuer = self._index.setdefault(route.router, {}).setdefault(subject, {})
        by_issuer.setdefault(issuer, weakref.WeakSet()).add(subscriber)

    def leave(self, subscriber: QueuedSubscriber, route: Route) -> None:
        issuer, subject = route.key
        index = self._index.get(route.router, {})
        by_issuer = index.get(subject, {})
        members = by_issuer.get(issuer)
        if members is None:
            return
        members.discard(subscriber)
        if not members:  # drop what is empty: the index holds only the live subjects
            del by_issuer[issuer]
            if not by_issuer:
                del index[subject]
                if not index:
                    del self._index[route.router]

    @property
    def subjects(self) -> int:
        """Subjects indexed (for tests: none is left once its subscriptions are gone)."""
        return sum(len(index) for index in self._index.values())

    def advance(self, delivery: Delivery) -> tuple[int, frozenset[Router]]:
        """The delivery's tick, and the routers that route it (each starts learning its owner):
        their subscriptions are not offered it by the fan-out."""
        self.tick += 1
        if not self._index:
            return self.tick, frozenset()
        routers = frozenset(r for r in self._index if r.routed(delivery.event))
        for router in routers:
            pending = Pending(self.tick, delivery, router)
            self._pending[self.tick] = pending
            task = asyncio.ensure_future(self._learn(pending))
            self._learning.add(task)
            task.add_done_callback(self._learning.discard)
        return self.tick, routers

    def blocking(self, subscriber: QueuedSubscriber, route: Route, tick: int) -> Pending | None:
        """The first unresolved routed event fanned out after the subscriber joined and before
        `tick` that may be the subscriber's: it must be placed before `tick`'s is handed over."""
        for pending in self._pending.values():
            if pending.tick >= tick:
                return None
            if pending.tick > subscriber.joined and pending.router is route.router:
                return pending
        return None

    async def _learn(self, pending: Pending) -> None:
        owner: str | None = None
        try:
            async with asyncio.timeout(ROUTE_SECONDS):
                owner = await pending.router.owner(pending.delivery)
        except Exception as exc:  # any failure: delivered to nobody, logged
            log.warning(
                "events: whose event %s is could not be learned (%s): not delivered",
                pending.delivery.event.id,
                type(exc).__name__,
            )
        finally:  # cancelled (the broker closed) too: waiting subscriptions go on
            self._settle(pending, owner)

    def _settle(self, pending: Pending, owner: str | None) -> None:
        self._pending.pop(pending.tick, None)
        try:
            if owner is not None:
                index = self._index.get(pending.router, {})
                for members in list(index.get(owner, {}).values()):
                    for subscriber in list(members):
                        if subscriber.joined < pending.tick:  # a later one replays it
                            subscriber.place(pending.tick, pending.delivery)
        finally:  # whatever happened, nobody waits for it any longer
            blocked, pending.blocked = pending.blocked, set()
            for subscriber in blocked:
                subscriber.wake()

    async def aclose(self) -> None:
        """Stop learning: what was pending is delivered to nobody (its waiters go on)."""
        learning = list(self._learning)
        for task in learning:
            task.cancel()
        await asyncio.gather(*learning, return_exceptions=True)
