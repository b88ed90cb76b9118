"""A record the outbox cannot read (corrupted, or written by another release during a rolling
upgrade) is set aside once — out of the outbox, logged without its content, listed with the dead
letters, counted — and never stalls the delivery of the others (both stores)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

import orjson
import pytest

from gateway.observability.metrics import Metrics
from gateway.writes import OutboxWrites, Store
from gateway.writes.redis_store import RedisStore
from gateway.writes.sqlite_store import SqliteStore
from gateway.writes.store import log_set_aside

from .conftest import FakeCrm, StoreFactory, fast_settings, intent, settled

NOTE = "customer Jane Roe asked about card 4111"
"""The payload nothing may log."""


def _status_unknown(raw: bytes) -> bytes:
    return orjson.dumps(orjson.loads(raw) | {"status": "QUEUED"})


def _field_missing(raw: bytes) -> bytes:
    values = orjson.loads(raw)
    del values["external_id"]
    return orjson.dumps(values)


def _not_json(raw: bytes) -> bytes:
    return raw[: len(raw) // 2]


CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "not json": _not_json,
    "status unknown": _status_unknown,
    "field missing": _field_missing,
}


async def _raw(store: Store, write_id: str) -> bytes:
    if isinstance(store, RedisStore):
        value = await store._redis.get(f"switchboard:writes:w:{write_id}")
        return str(value).encode()
    assert isinstance(store, SqliteStore)
    with sqlite3.connect(store.path) as db:
        row = db.execute("SELECT record FROM writes WHERE write_id = ?", (write_id,)).fetchone()
    return bytes(row[0])


async def _corrupt(store: Store, write_id: str, how: Callable[[bytes], bytes]) -> bytes:
    """Rewrite the stored record as another release, or a bad disk, would have left it."""
    raw = how(await _raw(store, write_id))
    if isinstance(store, RedisStore):
        await store._redis.set(f"switchboard:writes:w:{write_id}", raw.decode(), keepttl=True)
        return raw
    assert isinstance(store, SqliteStore)
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE writes SET record = ? WHERE write_id = ?", (raw, write_id))
    return raw


def _set_aside_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "cannot be read" in r.getMessage()]


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
async def test_an_unreadable_write_is_set_aside_once_and_the_others_are_delivered(
    new_store: StoreFactory, caplog: pytest.LogCaptureFixture, corruption: str
) -> None:
    """Before: Redis' claim raised on the bad record at every pass (XAUTOCLAIM hands the same
    entries back first), so neither its neighbours nor any later write was delivered; a status
    this version did not know read as final, and the write was dropped without a word. SQLite's
    claim raised the same way."""
    crm = FakeCrm(mode="down")
    writes = OutboxWrites(new_store(), crm, fast_settings())
    await writes.open()  # the worker starts once the record is corrupted
    try:
        first, bad, last = [
            await writes.submit(intent(f"k-{i}", note=NOTE, target=f"contact-{i}"))
            for i in range(3)
        ]
        assert {r.status for r in (first, bad, last)} == {"PENDING"}
        kept = await _corrupt(writes.store, bad.write_id, CORRUPTIONS[corruption])
        crm.mode = "ok"
        caplog.set_level(logging.INFO, logger="switchboard.writes")
        await writes.start()
        for good in (first, last):
            assert (await settled(writes, good.write_id)).status == "APPLIED"
        # the worker keeps delivering what comes later
        crm.mode = "down"
        later = await writes.submit(intent("k-later", note=NOTE))
        crm.mode = "ok"
        assert (await settled(writes, later.write_id)).status == "APPLIED"
        # four direct attempts (the CRM down), then each good write delivered once
        assert crm.calls == 4 + 3
        assert len(crm.records) == 3

        [line] = _set_aside_lines(caplog)
        assert line.levelno == logging.ERROR
        assert bad.write_id in line.getMessage()
        assert all(NOTE not in r.getMessage() for r in caplog.records)
        [aside] = await writes.unreadable()
        assert aside.write_id == bad.write_id and aside.reason
        assert aside.summary()["status"] == "UNREADABLE"
        metrics = Metrics()  # the gauge, as a scrape reads it
        metrics.watch_outbox(writes.pending, writes.oldest_pending, writes.unreadable_count)
        await metrics.refresh()
        assert b"\nswitchboard_outbox_unreadable 1.0\n" in metrics.render()
        assert await writes.dead_letters() == []
        assert await writes.pending() == 0
        assert await writes.oldest_pending() is None
        # its raw record is kept where an operator can read it
        assert await _raw(writes.store, bad.write_id) == kept
    finally:
        await writes.aclose()


async def test_an_unreadable_dead_letter_never_fails_the_listing_or_a_replay(
    new_store: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Listing dead letters (the CLI, GET /writes/dead-letters) and replaying read records too:
    one bad record used to fail the whole listing."""
    crm = FakeCrm(mode="down")
    writes = OutboxWrites(new_store(), crm, fast_settings(max_attempts=1))
    await writes.start()
    try:
        caplog.set_level(logging.INFO, logger="switchboard.writes")
        dead = [await writes.submit(intent(f"k-{i}", note=NOTE)) for i in range(3)]
        for write in dead:
            assert (await settled(writes, write.write_id)).dead
        await _corrupt(writes.store, dead[1].write_id, _not_json)
        listed = {d.write_id for d in await writes.dead_letters()}
        assert listed == {dead[0].write_id, dead[2].write_id}
        assert {d.write_id for d in await writes.dead_letters()} == listed
        assert [u.write_id for u in await writes.unreadable()] == [dead[1].write_id]
        assert len(_set_aside_lines(caplog)) == 1
        with pytest.raises(Exception, match="not in the dead-letter list"):
            await writes.replay(dead[1].write_id)
        assert len(_set_aside_lines(caplog)) == 1
        assert all(NOTE not in r.getMessage() for r in caplog.records)
    finally:
        await writes.aclose()


def test_the_set_aside_line_escapes_a_write_id_it_did_not_make(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The write id of a corrupted stream entry or row is store content: never a line of its own
    in the log (log injection)."""
    caplog.set_level(logging.ERROR, logger="switchboard.writes")
    log_set_aside("w_1\nINFO forged line", "JSONDecodeError: unexpected end of data")
    [line] = _set_aside_lines(caplog)
    assert "\n" not in line.getMessage() and "'w_1\\nINFO forged line'" in line.getMessage()


async def test_a_replay_that_meets_an_unreadable_dead_letter_sets_it_aside(
    new_store: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    crm = FakeCrm(mode="down")
    writes = OutboxWrites(new_store(), crm, fast_settings(max_attempts=1))
    await writes.start()
    try:
        caplog.set_level(logging.INFO, logger="switchboard.writes")
        write = await writes.submit(intent("k-1", note=NOTE))
        assert (await settled(writes, write.write_id)).dead
        await _corrupt(writes.store, write.write_id, _field_missing)
        with pytest.raises(Exception, match="not in the dead-letter list"):
            await writes.replay(write.write_id)
        assert [u.write_id for u in await writes.unreadable()] == [write.write_id]
        assert len(_set_aside_lines(caplog)) == 1
        assert await writes.dead_letters() == []
    finally:
        await writes.aclose()
