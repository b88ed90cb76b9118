"""What an event costs a replica, whatever the number of its subscribers.

An offered contact names no agent (Amazon Connect's INITIATED carries no `agentInfo`), so every
screen-pop subscriber must learn from the CCaaS system whether the contact is theirs. Read by each
of them, one offered call would cost N back-end calls with N agents on a replica — with a
thousand desktops, more than the CCaaS bulkhead admits, so the owning agent's own read was
refused and the pop lost (bench.events, issue #14). Here the contact an event names is read once
per event per replica, and every subscriber that asks gets that one read.

Most feeds need not even ask: the reads are also the replica's `Router` of offered contacts
(gateway/events/routes.py). An offered contact goes, once this one read has found its agent,
to that agent's screen-pop subscriptions only — no other feed is woken for it — and the owner's
feed finds the read here and still checks that the contact is its own. A replayed offered
contact (a desktop resuming from its cursor) is not routed: its feed asks.

The read is keyed by the event's cursor: a later event of the same contact (VERIFIED) is read
afresh, as its proof must be. Reads are kept a few seconds (subscribers that are a few events
behind still share them), a failed read is forgotten at once (a later asker tries again), and a
subscriber cancelled while it waits does not cancel the read for the others.
"""

from __future__ import annotations

import asyncio

from cachetools import TTLCache

from gateway.events.broker import Delivery
from gateway.events.mapping import CloudEvent
from gateway.observability.tracing import NO_TRACING, Tracing
from sources import Sources
from sources.records import Contact

__all__ = ["OFFERED", "EventReads"]

OFFERED = "interaction.offered"


class EventReads:
    def __init__(
        self,
        sources: Sources,
        *,
        ttl: float = 5.0,
        size: int = 4096,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        self._sources = sources
        self._tracing = tracing
        self._reads: TTLCache[tuple[str, str], asyncio.Future[Contact | None]] = TTLCache(size, ttl)

    def __len__(self) -> int:
        return len(self._reads)

    async def contact(self, cursor: str, contact_id: str) -> Contact | None:
        """The CCaaS contact as it was read for the event at `cursor` (one read per event)."""
        key = (cursor, contact_id)
        read = self._reads.get(key)
        if read is None:
            read = asyncio.ensure_future(self._read(contact_id))
            read.add_done_callback(lambda done: self._settled(key, done))
            self._reads[key] = read
        return await asyncio.shield(read)

    def routed(self, event: CloudEvent) -> bool:
        """An offered contact that names no agent (every other contact event names it, and
        goes by the subscription's `wants`)."""
        return event.type == OFFERED and "agentId" not in event.data

    async def owner(self, delivery: Delivery) -> str | None:
        """The offered contact's agent, from this event's one read (the owner's feed then
        finds it here, not read again), traced under the webhook's ingest span as the feed's
        own reads are (gateway/events/feed.py): the router runs in no request's context."""
        under = self._tracing.within(delivery.event.traceparent)
        try:
            contact = await self.contact(delivery.cursor, delivery.event.subject)
        finally:
            under.end()
        return None if contact is None else contact.agent_id

    async def _read(self, contact_id: str) -> Contact | None:
        found = await self._sources.ccaas.contacts([contact_id])
        return next((c for c in found if c.id == contact_id), None)

    def _settled(self, key: tuple[str, str], read: asyncio.Future[Contact | None]) -> None:
        # the exception is retrieved here: never an "unobserved" one
        failed = read.cancelled() or read.exception() is not None
        if failed and self._reads.get(key) is read:
            del self._reads[key]
