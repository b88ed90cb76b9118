"""The two outbox stores held to one contract (gateway/writes/store.py): atomic reservation,
settle-once, claims that another process can take over, dead letters, replay, retention."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import orjson
import pytest
import redis.asyncio as redis

from gateway.writes import Store, WriteRecord

from .conftest import StoreFactory, intent


@pytest.fixture
async def store(new_store: StoreFactory) -> AsyncIterator[Store]:
    opened = new_store()
    await opened.open()
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
async def probe(redis_url: str) -> AsyncIterator[redis.Redis]:
    """A client of the test's own on an emptied Redis: what the stores wrote, read directly."""
    client = redis.from_url(redis_url, decode_responses=True)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


def _record(key: str = "k-1", now: float = 1000.0, **more: object) -> WriteRecord:
    return WriteRecord.of(intent(key, **more), now, lease=5.0)  # type: ignore[arg-type]


async def test_a_key_is_reserved_once_even_when_raced(store: Store) -> None:
    contenders = [_record() for _ in range(8)]
    held = await asyncio.gather(*(store.reserve(r) for r in contenders))
    winners = [r for r, h in zip(contenders, held, strict=True) if h is None]
    assert len(winners) == 1
    assert {h.write_id for h in held if h is not None} == {winners[0].write_id}
    assert await store.pending() == 1


async def test_settle_happens_once_and_keeps_no_intent_when_applied(store: Store) -> None:
    record = _record()
    assert await store.reserve(record) is None
    applied = record.settled("APPLIED", 1001.0, record_id="00T1")
    assert await store.settle(applied) is True
    assert await store.settle(record.settled("REJECTED", 1002.0, code="X")) is False
    stored = await store.get(record.write_id)
    assert stored is not None and stored.status == "APPLIED" and stored.fields == {}
    assert await store.pending() == 0


async def test_claims_wait_for_the_lease_and_deferrals(store: Store) -> None:
    record = _record(now=1000.0)  # leased to its direct attempt until 1005
    await store.reserve(record)
    assert await store.claim(1004.0, lease=3.0, limit=10) == []
    [claimed] = await store.claim(1005.0, lease=3.0, limit=10)
    assert claimed.write_id == record.write_id
    later = replace(claimed, attempts=1, code="SOURCE_UNAVAILABLE", next_at=1010.0)
    assert await store.defer(later) is True
    assert await store.claim(1009.0, lease=3.0, limit=10) == []
    [again] = await store.claim(1010.0, lease=3.0, limit=10)
    assert again.attempts == 1 and again.code == "SOURCE_UNAVAILABLE"


async def test_another_process_takes_over_a_claim_that_is_never_settled(
    new_store: StoreFactory,
) -> None:
    first, second = new_store(), new_store()
    await first.open()
    await second.open()
    try:
        record = _record(now=0.0)
        await first.reserve(record)
        [taken] = await first.claim(10.0, lease=0.2, limit=10)  # then "crashes"
        assert taken.write_id == record.write_id
        found: list[WriteRecord] = []
        async with asyncio.timeout(20):  # a guard, not a timing assertion
            while not found:
                await asyncio.sleep(0.05)
                found = await second.claim(10.5, lease=0.2, limit=10)
        assert [r.write_id for r in found] == [record.write_id]
        assert await second.settle(found[0].settled("APPLIED", 11.0, record_id="1")) is True
        assert await first.settle(taken.settled("APPLIED", 11.0, record_id="1")) is False
    finally:
        await first.aclose()
        await second.aclose()


async def test_dead_letters_replay_once_and_old_final_writes_are_purged(store: Store) -> None:
    dead, rejected = _record("k-dead"), _record("k-rejected")
    for record in (dead, rejected):
        await store.reserve(record)
    await store.settle(dead.settled("REJECTED", 1001.0, code="SOURCE_UNAVAILABLE", dead=True))
    await store.settle(rejected.settled("REJECTED", 1001.0, code="NOT_FOUND"))
    assert [d.write_id for d in await store.dead_letters(10)] == [dead.write_id]
    again = await store.requeue(dead.write_id, 2000.0)
    assert again is not None and (again.status, again.attempts, again.dead) == ("PENDING", 0, False)
    assert await store.requeue(dead.write_id, 2000.0) is None
    assert await store.requeue(rejected.write_id, 2000.0) is None
    assert await store.dead_letters(10) == []
    [claimed] = await store.claim(2000.0, lease=1.0, limit=10)
    assert claimed.write_id == dead.write_id
    if await store.purge(1500.0):  # SQLite deletes; Redis lets keys expire by themselves
        assert await store.get(rejected.write_id) is None
        assert await store.get(dead.write_id) is not None  # replayed: pending again


async def test_a_claim_that_ended_without_a_verdict_is_taken_again_by_the_same_process(
    store: Store,
) -> None:
    """A delivery whose store update failed leaves no verdict: once its claim lapses, the same
    process (the only replica) takes it again rather than holding it forever."""
    record = _record(now=0.0)
    await store.reserve(record)
    [first] = await store.claim(10.0, lease=0.2, limit=10)
    again: list[WriteRecord] = []
    async with asyncio.timeout(20):  # a guard, not a timing assertion
        while not again:
            await asyncio.sleep(0.05)
            again = await store.claim(10.5, lease=0.2, limit=10)
    assert [r.write_id for r in again] == [first.write_id]
    assert await store.settle(again[0].settled("APPLIED", 11.0, record_id="1")) is True


async def test_the_oldest_pending_write_is_known_wherever_it_waits(store: Store) -> None:
    """The outbox-age metric (switchboard_outbox_oldest_age_seconds) reads this."""
    assert await store.oldest_pending() is None
    first, second = _record("k-1", now=1000.0), _record("k-2", now=1003.0)
    await store.reserve(first)
    await store.reserve(second)
    assert await store.oldest_pending() == 1000.0
    # taken by a worker (in Redis: moved from `due` into the stream), it still waits
    claimed = await store.claim(1010.0, lease=3.0, limit=1)
    assert len(claimed) == 1
    assert await store.oldest_pending() == 1000.0
    assert await store.settle(first.settled("APPLIED", 1011.0, record_id="00T1")) is True
    assert await store.oldest_pending() == 1003.0


async def test_redis_never_counts_a_delivered_write_twice_between_its_commands(
    redis_url: str,
    probe: redis.Redis,
) -> None:
    """A write a replica delivered from the stream moves to `due` (deferred) or out (settled) in
    the same step as its stream entry goes: after every command the store sends, the outbox depth
    (switchboard_outbox_depth) counts it at most once. Sending the entry's XACK/XDEL as commands of
    their own after the script left a window in which the write was in both places."""
    from gateway.writes.redis_store import PREFIX, RedisStore

    store = RedisStore(redis_url, retention_seconds=3600, claim_idle_seconds=0.5)
    await store.open()
    depths: list[int] = []
    sent = store._redis.execute_command

    async def counting(*args: object, **options: object) -> object:
        result = await sent(*args, **options)
        depths.append(int(await probe.zcard(f"{PREFIX}:due")) + int(await probe.xlen(PREFIX)))
        return result

    try:
        record = _record(now=1000.0)
        assert await store.reserve(record) is None
        [claimed] = await store.claim(1005.0, lease=3.0, limit=10)
        store._redis.execute_command = counting
        assert await store.defer(replace(claimed, attempts=1, next_at=1010.0)) is True
        [again] = await store.claim(1010.0, lease=3.0, limit=10)
        assert await store.settle(again.settled("APPLIED", 1011.0, record_id="00T1")) is True
        assert depths and max(depths) == 1, depths
        assert await store.pending() == 0
    finally:
        await store.aclose()


async def test_redis_replicas_leave_the_consumer_group_but_never_with_a_delivery(
    redis_url: str,
    probe: redis.Redis,
) -> None:
    """Each replica joins the `writers` group under a name of its own: one that stops leaves
    it, one that crashed is removed by another's sweep once idle, and neither happens while it
    holds a delivery (removing it would drop the entry from the group's pending list, and no
    replica could take the write over)."""
    from gateway.writes.redis_store import GROUP, PREFIX, RedisStore

    async def members() -> set[str]:
        return {str(c["name"]) for c in await probe.xinfo_consumers(PREFIX, GROUP)}

    def new(forget: float = 3600.0) -> RedisStore:
        return RedisStore(redis_url, 3600, claim_idle_seconds=0.5, forget_idle_seconds=forget)

    idle, holding, gone = new(), new(), new()
    for store in (idle, holding, gone):
        await store.open()
    try:
        # (a consumer joins the group when it first reads an entry)
        for store, key in ((idle, "k-idle"), (gone, "k-gone")):
            await store.reserve(_record(key, now=1000.0))
            [done] = await store.claim(1005.0, lease=3.0, limit=10)
            assert await store.settle(done.settled("APPLIED", 1006.0, record_id="1")) is True
        await holding.reserve(_record("k-held", now=1000.0))
        [held] = await holding.claim(1005.0, lease=3.0, limit=10)
        assert await members() == {idle.consumer, holding.consumer, gone.consumer}

        await idle.aclose()
        await holding.aclose()  # stops mid-delivery: stays, so its write can be taken over
        assert await members() == {holding.consumer, gone.consumer}

        # `gone` crashed (no aclose). Once idle past claim_idle_seconds, `holding`'s delivery is
        # free to take; a later replica's sweep removes `gone` but not `holding`, which still
        # held it when swept; the next sweep removes `holding` too
        await asyncio.sleep(0.6)
        sweeper = new(forget=0.01)
        await sweeper.open()
        [taken] = await sweeper.claim(1006.0, lease=3.0, limit=10)
        assert taken.write_id == held.write_id
        assert await members() == {holding.consumer, sweeper.consumer}
        sweeper._forgotten_at = 0.0
        assert await sweeper.claim(1006.0, lease=3.0, limit=10) == []
        assert await members() == {sweeper.consumer}
        assert await sweeper.settle(taken.settled("APPLIED", 1007.0, record_id="00T1")) is True
        await sweeper.aclose()
        assert await members() == set()
    finally:
        await gone.aclose()


def test_a_record_keeps_what_it_is_about_and_reads_one_written_by_another_version() -> None:
    """A rolling upgrade has replicas of two versions on one outbox: a record with a field this
    version does not know still loads, and one without a field it knows takes the default."""
    record = replace(_record(), customer_id="003SB0000000000007")
    assert WriteRecord.from_json(record.to_json()) == record
    newer = orjson.loads(record.to_json()) | {"shard": 3}
    assert WriteRecord.from_json(orjson.dumps(newer)) == record
    older = {k: v for k, v in orjson.loads(record.to_json()).items() if k != "customer_id"}
    assert WriteRecord.from_json(orjson.dumps(older)).customer_id is None


async def test_redis_a_claim_between_a_deferral_and_its_return_takes_the_write_again(
    redis_url: str,
    probe: redis.Redis,
) -> None:
    """A worker defers a write due again at once (a short backoff) while another of its loops
    claims: the claim runs as soon as the deferral's script has, before `defer` returns. It must
    take the write's new stream entry, not drop it as a second entry of a write it still holds —
    that left the write in neither `due` nor the stream, PENDING and never delivered (the drain
    test counted 984 of 1,000: one worker batch)."""
    from gateway.writes.redis_store import RedisStore

    store = RedisStore(redis_url, retention_seconds=3600, claim_idle_seconds=0.5)
    await store.open()
    sent = store._redis.execute_command
    interleaved: list[list[WriteRecord]] = []

    async def claim_right_after_the_script(*args: object, **options: object) -> object:
        result = await sent(*args, **options)
        if args and args[0] == "EVALSHA" and not interleaved:
            store._redis.execute_command = sent
            interleaved.append(await store.claim(1011.0, lease=3.0, limit=10))
        return result

    try:
        record = _record(now=1000.0)
        assert await store.reserve(record) is None
        [claimed] = await store.claim(1005.0, lease=3.0, limit=10)
        store._redis.execute_command = claim_right_after_the_script
        assert await store.defer(replace(claimed, attempts=1, next_at=1010.0)) is True
        assert [[r.write_id for r in taken] for taken in interleaved] == [[record.write_id]]
        assert await store.pending() == 1
    finally:
        await store.aclose()


@pytest.mark.parametrize("meanwhile", ["deferred", "moved"])
@pytest.mark.parametrize(("read", "expected"), [("pending", 1), ("oldest_pending", 1000.0)])
async def test_redis_the_outbox_is_read_whole_while_a_worker_moves_a_write(
    redis_url: str, meanwhile: str, read: str, expected: float, probe: redis.Redis
) -> None:
    """A write is in the stream (being delivered) or in `due` (waiting); a worker moves it from
    one to the other at any moment — a deferral (XDEL + ZADD) or the mover (ZREM + XADD). The
    depth and the oldest age read both in one step: `pending()` read ZCARD and XLEN in two round
    trips, and a deferral between them hid the write from both — 0 while 30 were PENDING, when
    bench.writes' drain saw a whole worker batch deferred at once (the CRM back, its breaker
    still open) and stopped waiting with 29 writes undelivered; a move between them counted a
    write twice."""
    from gateway.writes.redis_store import RedisStore

    reader = RedisStore(redis_url, retention_seconds=3600, claim_idle_seconds=0.5)
    worker = RedisStore(redis_url, retention_seconds=3600, claim_idle_seconds=0.5)
    await reader.open()
    await worker.open()
    record = _record(now=1000.0)
    assert await reader.reserve(record) is None
    if meanwhile == "deferred":  # in the stream, delivered by the worker, deferred meanwhile
        [claimed] = await worker.claim(1005.0, lease=3.0, limit=10)

        async def move() -> None:
            assert await worker.defer(replace(claimed, attempts=1, next_at=1020.0)) is True

    else:  # in `due`, moved into the stream meanwhile

        async def move() -> None:
            assert [r.write_id for r in await worker.claim(1005.0, 3.0, 10)] == [record.write_id]

    sent = reader._redis.execute_command
    moved: list[str] = []

    async def worker_after_the_first_command(*args: object, **options: object) -> object:
        result = await sent(*args, **options)
        if not moved:
            moved.append(str(args[0]))
            await move()
        return result

    reader._redis.execute_command = worker_after_the_first_command
    try:
        assert await getattr(reader, read)() == expected
        assert moved  # the worker did move it while the outbox was read
    finally:
        await reader.aclose()
        await worker.aclose()


async def test_redis_a_burst_of_writes_waits_for_a_connection_instead_of_failing(
    redis_url: str,
    probe: redis.Redis,
) -> None:
    """More writes at once than the client's pool has connections (agents wrapping up together
    at the end of a shift, on one replica): each waits for a connection. redis-py's default pool
    raised MaxConnectionsError past 100 commands in flight, and the write was refused."""
    from gateway.redis_client import MAX_CONNECTIONS
    from gateway.writes.redis_store import RedisStore

    store = RedisStore(redis_url, retention_seconds=3600, claim_idle_seconds=0.5)
    await store.open()
    try:
        burst = [_record(f"k-{i}", now=1000.0) for i in range(MAX_CONNECTIONS + 50)]
        assert await asyncio.gather(*(store.reserve(r) for r in burst)) == [None] * len(burst)
        assert await store.pending() == len(burst)
    finally:
        await store.aclose()


async def test_redis_a_delivery_taken_over_by_another_replica_is_not_held_here_any_more(
    redis_url: str,
    probe: redis.Redis,
) -> None:
    """A replica's delivery ends without a verdict (an unexpected error in the attempt); another
    replica takes its entry over (XAUTOCLAIM) and defers the write, which comes back into the
    stream as a new entry. The first replica must take that entry, not drop it as a second one
    of a write it still holds: it no longer holds it, and dropping it left the write PENDING in
    neither `due` nor the stream — never delivered, and not counted as pending."""
    from gateway.writes.redis_store import RedisStore

    first = RedisStore(redis_url, retention_seconds=3600, claim_idle_seconds=0.5)
    second = RedisStore(redis_url, retention_seconds=3600, claim_idle_seconds=0.0)
    await first.open()
    await second.open()
    try:
        record = _record(now=1000.0)
        assert await first.reserve(record) is None
        [stuck] = await first.claim(1005.0, lease=3.0, limit=10)  # then no verdict
        [taken] = await second.claim(1005.0, lease=3.0, limit=10)
        assert taken.write_id == stuck.write_id
        assert await second.defer(replace(taken, attempts=1, next_at=1010.0)) is True
        again = await first.claim(1010.0, lease=3.0, limit=10)
        assert [r.write_id for r in again] == [record.write_id]
        assert await first.pending() == 1
        assert await first.settle(again[0].settled("APPLIED", 1011.0, record_id="00T1")) is True
        assert await first.pending() == 0
    finally:
        await first.aclose()
        await second.aclose()
