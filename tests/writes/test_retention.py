"""No write's record or idempotency key is deleted before the write is settled: retention counts
from when a write is final (dead letters included), and a PENDING one is kept whatever holds it
up — a worker behind, a Redis outage, a claim waiting for claim_idle_seconds."""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis.asyncio as redis

from gateway.writes import OutboxWrites, WriteRecord
from gateway.writes.redis_store import PREFIX, RedisStore
from gateway.writes.sqlite_store import SqliteStore

from .conftest import FakeCrm, fast_settings, intent

RETENTION = 1.0
"""Seconds: max_age_seconds and retention_hours both at it (max age <= retention is all the
settings ask), the default's 24 h each made short."""


async def test_redis_a_pending_write_outlives_retention_and_its_key_still_answers(
    redis_url: str,
) -> None:
    """Before: the idempotency key expired `retention` after the reservation and the record 60 s
    later, whether or not the write was settled. A write dead-lettered at max age (= retention by
    default) by a worker a minute behind was gone — neither delivered nor a dead letter — and a
    client's retry of it, once its key had expired, was made a second write."""
    probe = redis.from_url(redis_url, decode_responses=True)
    await probe.flushdb()
    settings = fast_settings(max_age_seconds=RETENTION, retention_hours=RETENTION / 3600)
    crm = FakeCrm(mode="down")
    store = RedisStore(redis_url, settings.retention_seconds, settings.claim_idle_seconds)
    writes = OutboxWrites(store, crm, settings)
    await writes.open()  # no worker: it is behind
    try:
        first = await writes.submit(intent("k-1"))
        assert first.status == "PENDING"
        record_key, idem_key = await _keys(probe, first.write_id)
        await asyncio.sleep(RETENTION + 0.2)
        again = await writes.submit(intent("k-1"))  # the client retries: the same write
        assert (again.write_id, again.status) == (first.write_id, "PENDING")
        assert await probe.pttl(record_key) == -1 and await probe.pttl(idem_key) == -1
        [due] = await store.claim(writes.clock(), lease=1.0, limit=10)
        await writes._deliver(due)  # past max age: dead-lettered, not lost
        assert [d.write_id for d in await writes.dead_letters()] == [first.write_id]
        # final: record and key now expire together, `retention` after the dead-lettering
        for key in (record_key, idem_key):
            assert 0 < await probe.pttl(key) <= RETENTION * 1000
        assert len(crm.records) == 0 and crm.calls == 1
    finally:
        await writes.aclose()
        await probe.aclose()


async def test_redis_a_replayed_dead_letter_is_kept_until_settled_again(redis_url: str) -> None:
    probe = redis.from_url(redis_url, decode_responses=True)
    await probe.flushdb()
    store = RedisStore(redis_url, retention_seconds=RETENTION, claim_idle_seconds=0.5)
    await store.open()
    try:
        record = WriteRecord.of(intent("k-1"), 1000.0, lease=1.0)
        assert await store.reserve(record) is None
        dead = record.settled("REJECTED", 1001.0, code="SOURCE_UNAVAILABLE", dead=True)
        assert await store.settle(dead) is True
        assert await store.requeue(record.write_id, 1002.0) is not None
        for key in await _keys(probe, record.write_id):
            assert await probe.pttl(key) == -1
    finally:
        await store.aclose()
        await probe.aclose()


async def test_sqlite_purges_final_writes_by_when_they_were_settled_never_pending_ones(
    tmp_path: Path,
) -> None:
    """Before: SQLite purged by when a write was made, so a write dead-lettered at max age (=
    retention) was deleted by the next purge, seconds later: never listed, never replayable, and
    its key free for a second write."""
    store = SqliteStore(str(tmp_path / "outbox.sqlite3"))
    await store.open()
    try:
        made = 0.0
        dead, applied, pending = (WriteRecord.of(intent(k), made, 1.0) for k in ("a", "b", "c"))
        for record in (dead, applied, pending):
            assert await store.reserve(record) is None
        assert await store.settle(dead.settled("REJECTED", 86_400.0, code="X", dead=True))
        assert await store.settle(applied.settled("APPLIED", 10.0, record_id="00T1"))
        assert await store.purge(86_400.0 - 3600.0) == 1  # settled over an hour ago: applied
        assert [d.write_id for d in await store.dead_letters(10)] == [dead.write_id]
        assert await store.get(applied.write_id) is None
        assert await store.purge(10**9) == 1  # the dead letter, in time; pending never
        assert await store.get(pending.write_id) is not None and await store.pending() == 1
    finally:
        await store.aclose()


async def _keys(probe: redis.Redis, write_id: str) -> tuple[str, str]:
    record_key = f"{PREFIX}:w:{write_id}"
    raw = await probe.get(record_key)
    assert raw is not None
    return record_key, f"{PREFIX}:idem:{WriteRecord.from_json(raw).idem}"
