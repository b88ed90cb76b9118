"""The write service (gateway/writes/service.py) on both stores, against a fake CRM: the
idempotency rules, the direct attempt, the worker, the dead-letter list, and every exit path
leaving the store defined."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from gateway.writes import (
    IdempotencyKeyReused,
    NotADeadLetter,
    OutboxWrites,
    WriteRecord,
    WriteSettings,
)

from .conftest import FakeCrm, StoreFactory, fast_settings, intent, settled


@pytest.fixture
async def crm() -> FakeCrm:
    return FakeCrm()


class Hooked:
    def __init__(self) -> None:
        self.seen: list[WriteRecord] = []
        self._called = asyncio.Event()

    async def __call__(self, record: WriteRecord) -> None:
        self.seen.append(record)
        self._called.set()

    async def settled(self, n: int) -> list[WriteRecord]:
        """The records the hook got, once it got `n` (the store says final just before the
        hook runs)."""
        async with asyncio.timeout(20):  # a guard, not a timing assertion
            while len(self.seen) < n:
                self._called.clear()
                await self._called.wait()
        return self.seen


@pytest.fixture
async def hook() -> Hooked:
    return Hooked()


@pytest.fixture
async def writes(
    new_store: StoreFactory, crm: FakeCrm, hook: Hooked
) -> AsyncIterator[OutboxWrites]:
    service = OutboxWrites(new_store(), crm, fast_settings(), on_settled=hook)
    await service.start()
    try:
        yield service
    finally:
        crm.release.set()
        await service.aclose()


async def test_a_write_is_applied_directly_and_settled_once(
    writes: OutboxWrites, crm: FakeCrm, hook: Hooked
) -> None:
    result = await writes.submit(intent())
    assert result.status == "APPLIED" and result.record_id is not None
    assert result.write_id.startswith("w_") and len(result.write_id) == 34
    assert len(crm.records) == 1
    (external_id,) = crm.records
    assert external_id.startswith("sb_") and "key-1" not in external_id
    record = await writes.get(result.write_id)
    assert record is not None and record.status == "APPLIED" and record.attempts == 1
    assert record.fields == {}, "an applied write's intent is not kept: the CRM has it"
    assert [r.write_id for r in hook.seen] == [result.write_id]


async def test_the_same_key_and_body_gets_the_first_result_and_another_body_is_refused(
    writes: OutboxWrites, crm: FakeCrm
) -> None:
    first = await writes.submit(intent())
    again = await writes.submit(intent())
    assert again == first
    with pytest.raises(IdempotencyKeyReused):
        await writes.submit(intent(note="another note"))
    assert crm.calls == 1
    # keys are per (issuer, subject): another agent's same key is another write
    other = await writes.submit(intent(subject="agent-0002"))
    assert other.write_id != first.write_id and len(crm.records) == 2


async def test_the_same_key_twice_at_once_is_one_crm_record_and_one_answer(
    writes: OutboxWrites, crm: FakeCrm
) -> None:
    crm.mode = "hang"
    both = asyncio.gather(writes.submit(intent()), writes.submit(intent()))
    await crm.entered.wait()
    crm.mode = "ok"
    crm.release.set()
    first, second = await both
    assert first == second and first.status == "APPLIED"
    assert crm.calls == 1 and len(crm.records) == 1


async def test_crm_down_makes_the_write_pending_and_the_worker_applies_it(
    writes: OutboxWrites, crm: FakeCrm, hook: Hooked
) -> None:
    crm.mode = "down"
    result = await writes.submit(intent())
    assert result.status == "PENDING" and result.code == "SOURCE_UNAVAILABLE"
    crm.mode = "ok"
    record = await settled(writes, result.write_id)
    assert record.status == "APPLIED" and len(crm.records) == 1
    assert [r.status for r in await hook.settled(1)] == ["APPLIED"]
    # the same key now answers the settled outcome
    assert (await writes.submit(intent())).status == "APPLIED"


async def test_a_final_crm_answer_rejects_at_once_without_a_dead_letter(
    writes: OutboxWrites, crm: FakeCrm
) -> None:
    crm.mode = "reject"
    result = await writes.submit(intent())
    assert (result.status, result.code) == ("REJECTED", "REQUIRED_FIELD_MISSING")
    assert await writes.dead_letters() == []
    assert crm.calls == 1


async def test_retries_end_in_the_dead_letter_list_and_a_replay_delivers(
    new_store: StoreFactory, crm: FakeCrm, hook: Hooked
) -> None:
    writes = OutboxWrites(new_store(), crm, fast_settings(max_attempts=3), on_settled=hook)
    await writes.start()
    try:
        crm.mode = "down"
        result = await writes.submit(intent())
        record = await settled(writes, result.write_id)
        assert (record.status, record.dead, record.attempts) == ("REJECTED", True, 3)
        assert record.code == "SOURCE_UNAVAILABLE"
        assert [d.write_id for d in await writes.dead_letters()] == [result.write_id]
        assert record.fields, "a dead letter keeps its intent, for the replay"
        crm.mode = "ok"
        assert (await writes.replay(result.write_id)).status == "PENDING"
        with pytest.raises(NotADeadLetter):
            await writes.replay(result.write_id)
        again = await settled(writes, result.write_id)
        assert again.status == "APPLIED" and len(crm.records) == 1
        assert await writes.dead_letters() == []
        assert [r.status for r in await hook.settled(2)] == ["REJECTED", "APPLIED"]
    finally:
        await writes.aclose()


async def test_a_cancelled_submit_leaves_a_pending_write_the_worker_delivers(
    writes: OutboxWrites, crm: FakeCrm
) -> None:
    crm.mode = "hang"
    submit = asyncio.create_task(writes.submit(intent()))
    await crm.entered.wait()
    submit.cancel()
    with pytest.raises(asyncio.CancelledError):
        await submit
    # the client retries with its key: the same write, still owed
    pending = await writes.submit(intent())
    assert pending.status == "PENDING"
    crm.mode = "ok"
    crm.release.set()
    record = await settled(writes, pending.write_id)
    assert record.status == "APPLIED" and len(crm.records) == 1


async def test_a_crm_answering_after_the_deadline_is_retried_onto_the_same_record(
    writes: OutboxWrites, crm: FakeCrm, hook: Hooked
) -> None:
    crm.mode = "applied_then_hang"  # written, the answer too late: the ambiguous case
    result = await writes.submit(intent())
    assert result.status == "PENDING" and result.code == "SOURCE_TIMEOUT"
    crm.mode = "ok"
    crm.release.set()
    record = await settled(writes, result.write_id)
    assert record.status == "APPLIED" and len(crm.records) == 1 and crm.calls >= 2
    assert len(await hook.settled(1)) == 1


async def test_a_worker_cancelled_mid_delivery_leaves_the_write_to_the_next_one(
    new_store: StoreFactory, crm: FakeCrm
) -> None:
    settings = fast_settings()
    first = OutboxWrites(new_store(), crm, settings)
    await first.start()
    crm.mode = "down"
    result = await first.submit(intent())
    crm.mode = "hang"
    crm.entered.clear()
    await crm.entered.wait()  # the worker's delivery is out
    await first.aclose()  # cancels it mid-delivery
    stored = await _reopened_get(new_store, result.write_id)
    assert stored is not None and stored.status == "PENDING"
    crm.mode = "ok"
    crm.release.set()
    second = OutboxWrites(new_store(), crm, settings)
    await second.start()
    try:
        record = await settled(second, result.write_id)
        assert record.status == "APPLIED" and len(crm.records) == 1
    finally:
        await second.aclose()


async def test_an_on_settled_error_never_loses_the_write(
    new_store: StoreFactory, crm: FakeCrm
) -> None:
    async def broken(record: WriteRecord) -> None:
        raise RuntimeError("audit sink down")

    writes = OutboxWrites(new_store(), crm, fast_settings(), on_settled=broken)
    await writes.start()
    try:
        result = await writes.submit(intent())
        assert result.status == "APPLIED"
        record = await writes.get(result.write_id)
        assert record is not None and record.status == "APPLIED"
    finally:
        await writes.aclose()


async def test_unknown_or_malformed_write_ids_are_none(writes: OutboxWrites) -> None:
    assert await writes.get("w_" + "0" * 32) is None
    assert await writes.get("../etc") is None
    with pytest.raises(NotADeadLetter):
        await writes.replay("nonsense")


def test_backoff_is_full_jitter_within_the_cap() -> None:
    settings = WriteSettings(backoff_base_seconds=1.0, backoff_max_seconds=10.0)
    top = OutboxWrites(None, FakeCrm(), settings, jitter=lambda: 1.0)  # type: ignore[arg-type]
    bottom = OutboxWrites(None, FakeCrm(), settings, jitter=lambda: 0.0)  # type: ignore[arg-type]
    assert [top._backoff(n) for n in (1, 2, 3, 4, 5, 9)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert bottom._backoff(4) == 0.0


async def _reopened_get(new_store: StoreFactory, write_id: str) -> WriteRecord | None:
    store = new_store()
    await store.open()
    try:
        return await store.get(write_id)
    finally:
        await store.aclose()


async def test_an_unreachable_store_at_start_does_not_stop_the_gateway() -> None:
    from gateway.writes.redis_store import RedisStore
    from tests.support.processes import free_port

    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", 3600, 0.5)
    writes = OutboxWrites(store, FakeCrm(), fast_settings())
    await writes.start()  # logs, and the worker keeps trying
    try:
        with pytest.raises(Exception, match=r"(?i)connect"):
            await writes.submit(intent())
    finally:
        await writes.aclose()


async def test_a_write_is_dead_lettered_at_max_age_even_when_its_backoff_reaches_past_it(
    new_store: StoreFactory,
) -> None:
    """A write not delivered by `max_age_seconds` is dead-lettered then, not at its next retry
    after: the backoff (up to 300 s by default) pushed that retry past max_age, and with the
    default max_age = retention the Redis record had expired by then — the worker found no
    record and dropped the write, neither delivered nor in the dead-letter list."""
    now = [0.0]
    settings = fast_settings(
        max_age_seconds=100.0, backoff_base_seconds=50.0, backoff_max_seconds=300.0
    )
    crm = FakeCrm(mode="down")
    writes = OutboxWrites(new_store(), crm, settings, clock=lambda: now[0], jitter=lambda: 1.0)
    await writes.open()  # no worker: the test delivers, at the times it sets
    try:
        answer = await writes.submit(intent())
        assert answer.status == "PENDING"
        now[0] = 90.0
        [due] = await writes.store.claim(now[0], lease=1.0, limit=10)
        await writes._deliver(due)  # CRM still down: the next retry would be at 90 + 100
        now[0] = 100.0
        [last] = await writes.store.claim(now[0], lease=1.0, limit=10)
        await writes._deliver(last)
        dead = await writes.get(answer.write_id)
        assert dead is not None and dead.status == "REJECTED" and dead.dead
        assert dead.code == "SOURCE_UNAVAILABLE" and crm.calls == 2
        assert [r.write_id for r in await writes.dead_letters()] == [answer.write_id]
    finally:
        await writes.aclose()


async def test_an_outbox_that_cannot_be_read_is_warned_about_once_not_at_every_pass(
    new_store: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker's look at the outbox fails while the store is down: one warning when it starts
    failing, one line when it is back, and the looks in between spaced out (doubling). Before,
    every pass (twice a second by default) logged a warning and asked the store again."""
    store = new_store()
    writes = OutboxWrites(store, FakeCrm(), fast_settings())
    claims = 0
    claim = store.claim
    recovered = asyncio.Event()

    async def failing_five_times(now: float, lease: float, limit: int) -> list[WriteRecord]:
        nonlocal claims
        claims += 1
        if claims >= 7:
            recovered.set()
        if claims <= 5:
            raise ConnectionError("store down")
        return await claim(now, lease, limit)

    store.claim = failing_five_times  # type: ignore[method-assign]
    caplog.set_level(logging.INFO, logger="switchboard.writes")
    await writes.start()
    try:
        async with asyncio.timeout(20):  # a guard, not a timing assertion
            await recovered.wait()
        lines = [r.getMessage() for r in caplog.records if "outbox" in r.getMessage()]
        assert len([m for m in lines if "unavailable" in m]) == 1, lines
        assert len([m for m in lines if "available again" in m]) == 1, lines
    finally:
        await writes.aclose()
