"""The outbox across replicas: Redis, when `[events] redis_url` is set.

    switchboard:writes:idem:<idem>   -> write id       taken atomically (SET NX in a script)
    switchboard:writes:w:<write id>  -> record (JSON)  both kept while PENDING, then expire
                                                       retention_hours after it is settled
    switchboard:writes:due           ZSET write id -> when it may be tried next (backoff)
    switchboard:writes               STREAM of write ids due now, consumer group `writers`
    switchboard:writes:dead          ZSET write id -> when it was dead-lettered
    switchboard:writes:unreadable    ZSET write id -> when its record, unreadable, was set aside
    switchboard:writes:unreadable:why  HASH write id -> why (UnreadableRecord's message)

A PENDING write has no expiry: whatever holds it up (a worker behind, a Redis outage, a claim
waiting for claim_idle_seconds), it is delivered or dead-lettered, never lost, and its key
is never free for a second write meanwhile. Settled, its record and key live retention_hours
from then, so a dead letter is listed (and its key held) that long. A record this version cannot
read is set aside once (out of `due`, the stream and `dead`; its raw record kept
retention_hours) instead of failing every claim that meets it.

A write waits in `due` (from its reservation on: a replica that dies during the direct attempt
leaves it there, due once that attempt's lease is over); each replica's worker moves what is due
into the stream (one script: ZREM + XADD, so exactly one replica moves it) and reads the stream
in the group. An entry stays in the group's pending list until its delivery is settled or
deferred (XACK + XDEL); a replica that dies holding entries loses them to XAUTOCLAIM by another
once they have been idle `claim_idle_seconds`. Delivery is at-least-once; the CRM's upsert by
external id and the conditional settle scripts make it exactly-once in effect. A write moves
between `due` and the stream at any moment, so whatever reads both (the depth, the oldest age)
reads them in one script.

The scripts touch keys they compute (record keys by write id): standalone Redis or a single
hash slot, not Redis Cluster across slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from typing import Any

import orjson

from gateway.redis_client import redis_client
from gateway.writes.model import Unreadable, UnreadableRecord, WriteRecord
from gateway.writes.redis_scripts import (
    DEPTH,
    FORGET,
    MOVE,
    PURGE,
    REQUEUE,
    RESERVE,
    SET_ASIDE,
    SETTLE,
    WAITING,
)
from gateway.writes.store import log_set_aside

__all__ = ["RedisStore"]

PREFIX = "switchboard:writes"
GROUP = "writers"
UNREADABLE = f"{PREFIX}:unreadable"
WHY = f"{PREFIX}:unreadable:why"

FORGET_IDLE_SECONDS = 3600.0
"""A consumer of the group idle this long, holding nothing, is a replica gone for good."""


class RedisStore:
    def __init__(
        self,
        url: str,
        retention_seconds: float,
        claim_idle_seconds: float,
        forget_idle_seconds: float = FORGET_IDLE_SECONDS,
    ) -> None:
        # Any: redis-py types replies as bytes | str | None whatever decode_responses says.
        # A burst of writes on one replica waits for a connection (gateway/redis_client.py).
        self._redis: Any = redis_client(url, decode_responses=True)
        self._ttl_ms = int(retention_seconds * 1000)
        self._idle_ms = int(claim_idle_seconds * 1000)
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        """This process's name in the consumer group: unique per Writes instance."""
        self._reserve = self._redis.register_script(RESERVE)
        self._settle = self._redis.register_script(SETTLE)
        self._move = self._redis.register_script(MOVE)
        self._requeue = self._redis.register_script(REQUEUE)
        self._forget = self._redis.register_script(FORGET)
        self._depth = self._redis.register_script(DEPTH)
        self._waiting = self._redis.register_script(WAITING)
        self._set_aside_script = self._redis.register_script(SET_ASIDE)
        self._purge = self._redis.register_script(PURGE)
        self._forget_idle_ms = int(forget_idle_seconds * 1000)
        self._forgotten_at = 0.0  # monotonic time of the last sweep of gone replicas
        self._entries: dict[str, str] = {}  # write id -> stream entry id this process holds

    @staticmethod
    def _record_key(write_id: str) -> str:
        return f"{PREFIX}:w:{write_id}"

    async def open(self) -> None:
        import redis.exceptions

        try:
            await self._redis.xgroup_create(PREFIX, GROUP, id="0", mkstream=True)
        except redis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def aclose(self) -> None:
        # this process leaves the group unless it still holds deliveries (another replica takes
        # those over); redis down at shutdown: the next sweep of another replica removes it
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await self._forget(keys=[PREFIX], args=[GROUP, self.consumer])
        # redis-py #3941: aclose() may hang waiting for a dead connection to close
        with contextlib.suppress(TimeoutError, OSError):
            async with asyncio.timeout(5):
                await self._redis.aclose()

    async def reserve(self, record: WriteRecord) -> WriteRecord | None:
        held = await self._reserve(
            keys=[
                f"{PREFIX}:idem:{record.idem}",
                self._record_key(record.write_id),
                f"{PREFIX}:due",
            ],
            args=[
                record.write_id,
                record.to_json().decode(),
                repr(record.next_at),
                f"{PREFIX}:w:",
            ],
        )
        return None if held is None else WriteRecord.from_json(held)

    async def get(self, write_id: str) -> WriteRecord | None:
        raw = await self._redis.get(self._record_key(write_id))
        return None if raw is None else WriteRecord.from_json(raw)

    async def _store(self, record: WriteRecord, score: float) -> bool:
        # let go of the entry before the script runs: once it has, the write may be due at
        # once and moved into the stream again, and a claim meanwhile must take that new
        # entry, not drop it as a second one of a write this process still holds
        entry = self._entries.pop(record.write_id, None)
        changed = await self._settle(
            keys=[
                self._record_key(record.write_id),
                f"{PREFIX}:due",
                f"{PREFIX}:dead",
                PREFIX,
                f"{PREFIX}:idem:{record.idem}",
            ],
            args=[
                record.to_json().decode(),
                record.write_id,
                record.status,
                repr(score),
                "1" if record.dead else "0",
                entry or "",
                GROUP,
                self._ttl_ms,
            ],
        )
        return bool(changed)

    async def settle(self, record: WriteRecord) -> bool:
        return await self._store(record, record.updated_at)

    async def defer(self, record: WriteRecord) -> bool:
        return await self._store(record, record.next_at)

    async def _forget_gone_replicas(self) -> None:
        """At most once a minute: the group's consumers idle past `forget_idle_seconds` and
        holding nothing leave it (a crashed or killed replica never says goodbye), so the group
        does not grow with every restart."""
        clock = time.monotonic()
        if self._forgotten_at and clock - self._forgotten_at < 60.0:
            return
        self._forgotten_at = clock
        for consumer in await self._redis.xinfo_consumers(PREFIX, GROUP):
            name = str(consumer.get("name", ""))
            idle = int(consumer.get("idle", 0))
            held = int(consumer.get("pending", 0))
            if name != self.consumer and not held and idle > self._forget_idle_ms:
                await self._forget(keys=[PREFIX], args=[GROUP, name])

    async def claim(self, now: float, lease: float, limit: int) -> list[WriteRecord]:
        await self._forget_gone_replicas()
        await self._move(keys=[f"{PREFIX}:due", PREFIX], args=[repr(now), limit])
        entries: list[tuple[str, dict[str, str]]] = []
        # a crashed replica's deliveries first: idle past claim_idle_seconds, never acknowledged
        claimed = await self._redis.xautoclaim(
            PREFIX, GROUP, self.consumer, self._idle_ms, start_id="0-0", count=limit
        )
        entries.extend(claimed[1])
        if len(entries) < limit:
            read = await self._redis.xreadgroup(
                GROUP, self.consumer, {PREFIX: ">"}, count=limit - len(entries)
            )
            for _, stream_entries in read or []:
                entries.extend(stream_entries)
        taken: list[WriteRecord] = []
        for entry_id, values in entries:
            write_id = values.get("id") if values else None
            held = self._entries.get(write_id) if write_id else None
            if held is not None and held != entry_id and not await self._holds(held):
                # a delivery here that ended without a verdict, its entry since taken over by
                # another replica (XAUTOCLAIM): this process no longer holds the write
                if write_id and self._entries.get(write_id) == held:
                    del self._entries[write_id]
                held = None
            raw = await self._redis.get(self._record_key(write_id)) if write_id else None
            record, aside = await self._parsed(str(write_id), raw, now, entry_id)
            if aside:
                continue
            if record is None or record.final or (held is not None and held != entry_id):
                # settled meanwhile, expired, or a second entry of a write we hold
                await self._redis.xack(PREFIX, GROUP, entry_id)
                await self._redis.xdel(PREFIX, entry_id)
                continue
            # (our own entry back from XAUTOCLAIM: its delivery ended without a verdict, as
            # when the store failed mid-way; idle past claim_idle_seconds, it is taken again)
            self._entries[record.write_id] = entry_id
            taken.append(record)
        return taken

    async def _parsed(
        self, write_id: str, raw: str | None, now: float, entry_id: str = ""
    ) -> tuple[WriteRecord | None, bool]:
        """The record read (None when there is none), or (None, True) when it cannot be read:
        then it is set aside, unless rewritten meanwhile (`_set_aside`)."""
        try:
            return (None if raw is None else WriteRecord.from_json(raw)), False
        except UnreadableRecord as exc:
            assert raw is not None
            await self._set_aside(write_id, raw, exc, now, entry_id)
            return None, True

    async def _set_aside(
        self, write_id: str, raw: str, error: UnreadableRecord, now: float, entry_id: str = ""
    ) -> None:
        """Take an unreadable record out of the outbox for good (see the module's docstring);
        logged by the one call that does it. Rewritten since it was read: left for the next
        read (its entry, unacknowledged, is claimed again)."""
        self._entries.pop(write_id, None)
        idem = _idem_of(raw)
        added = await self._set_aside_script(
            keys=[
                self._record_key(write_id),
                f"{PREFIX}:due",
                f"{PREFIX}:dead",
                PREFIX,
                UNREADABLE,
                WHY,
                f"{PREFIX}:idem:{idem}" if idem else f"{PREFIX}:idem:-",
            ],
            args=[raw, write_id, entry_id, GROUP, repr(now), str(error), self._ttl_ms],
        )
        if added == 1:
            log_set_aside(write_id, str(error))

    async def _holds(self, entry_id: str) -> bool:
        """Whether `entry_id` is still in this consumer's pending list (not acknowledged, not
        taken over by another replica)."""
        mine = await self._redis.xpending_range(
            PREFIX, GROUP, min=entry_id, max=entry_id, count=1, consumername=self.consumer
        )
        return bool(mine)

    async def dead_letters(self, limit: int) -> list[WriteRecord]:
        ids = await self._redis.zrevrange(f"{PREFIX}:dead", 0, max(limit, 1) - 1)
        if not ids:
            return []
        raws = await self._redis.mget([self._record_key(i) for i in ids])
        records: list[WriteRecord] = []
        for write_id, raw in zip(ids, raws, strict=True):
            record, _ = await self._parsed(write_id, raw, time.time())
            if record is not None:
                records.append(record)
        return [r for r in records if r.dead and r.status == "REJECTED"][:limit]

    async def unreadable(self, limit: int) -> list[Unreadable]:
        found = await self._redis.zrevrange(UNREADABLE, 0, max(limit, 1) - 1, withscores=True)
        if not found:
            return []
        why = await self._redis.hmget(WHY, [write_id for write_id, _ in found])
        return [
            Unreadable(write_id, reason or "unknown", float(at))
            for (write_id, at), reason in zip(found, why, strict=True)
        ][:limit]

    async def requeue(self, write_id: str, now: float) -> WriteRecord | None:
        raw = await self._redis.get(self._record_key(write_id))
        record, _ = await self._parsed(write_id, raw, now)
        if record is None or not record.dead or record.status != "REJECTED":
            return None
        again = record.requeued(now)
        done = await self._requeue(
            keys=[
                self._record_key(write_id),
                f"{PREFIX}:due",
                f"{PREFIX}:dead",
                f"{PREFIX}:idem:{record.idem}",
            ],
            args=[again.to_json().decode(), write_id, repr(now)],
        )
        return again if done else None

    async def purge(self, before: float) -> int:
        # records and keys expire by themselves; the indexes of dead letters and of records set
        # aside are trimmed here
        await self._purge(keys=[f"{PREFIX}:dead", UNREADABLE, WHY], args=[repr(before)])
        return 0

    async def oldest_pending(self) -> float | None:
        """Over the first 1,000 writes waiting in `due` (by when next tried) and in the stream
        (by arrival): a bound on the scrape's cost; a deeper outbox alerts on depth anyway."""
        ids = set(await self._waiting(keys=[f"{PREFIX}:due", PREFIX], args=[1000]))
        if not ids:
            return None
        raws = await self._redis.mget([self._record_key(i) for i in ids])
        created = [r.created_at for r in map(_readable, raws) if r is not None and not r.final]
        return min(created, default=None)

    async def unreadable_count(self) -> int:
        return int(await self._redis.zcard(UNREADABLE))

    async def pending(self) -> int:
        # entries are deleted when settled or deferred: the stream holds what is unread or
        # being delivered, `due` what waits for its time; both read in one step (DEPTH)
        return int(await self._depth(keys=[f"{PREFIX}:due", PREFIX]))


def _readable(raw: str | None) -> WriteRecord | None:
    """The record, or None when there is none or it cannot be read (the next claim sets it
    aside): a read for a metric never fails on one record."""
    try:
        return None if raw is None else WriteRecord.from_json(raw)
    except UnreadableRecord:
        return None


def _idem_of(raw: str) -> str | None:
    """The reservation key an unreadable record names, when it names one: set aside, the key
    expires with it."""
    try:
        idem = orjson.loads(raw).get("idem")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return idem if isinstance(idem, str) and idem else None
