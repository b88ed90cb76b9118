"""What an event costs a replica, whatever the number of its subscribers.

An offered contact names no agent (Amazon Connect's INITIATED carries no `agentInfo`), so every
screen-pop subscriber must learn from the CCaaS system whether the contact is theirs. Read by each
of them, one offered call would cost N back-end calls with N agents on a replica — with a
thousand desktops, more than the CCaaS bulkhead admits, so the owning agent's own read was
refused and the pop lost (bench.events, issue #14). Here the contact an event names is read once
per event per replica, and every subscriber that asks gets that one read; each then decides for
itself whether the contact is its own (nothing is decided for them here).

The read is keyed by the event's cursor: a later event of the same contact (VERIFIED) is read
afresh, as its proof must be. Reads are kept a few seconds (subscribers that are a few events
behind still share them), a failed read is forgotten at once (a later asker tries again), and a
subscriber cancelled while it waits does not cancel the read for the others.
"""

from __future__ import annotations

import asyncio

from cachetools import TTLCache

from sources import Sources
from sources.records import Contact

__all__ = ["EventReads"]


class EventReads:
    def __init__(self, sources: Sources, *, ttl: float = 5.0, size: int = 4096) -> None:
        self._sources = sources
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

    async def _read(self, contact_id: str) -> Contact | None:
        found = await self._sources.ccaas.contacts([contact_id])
        return next((c for c in found if c.id == contact_id), None)

    def _settled(self, key: tuple[str, str], read: asyncio.Future[Contact | None]) -> None:
        # the exception is retrieved here: never an "unobserved" one
        failed = read.cancelled() or read.exception() is not None
        if failed and self._reads.get(key) is read:
            del self._reads[key]
