"""The audit queue (REVIEW D7): writes never block the event loop, the queue is bounded, one
writer keeps the order, and shutdown writes what is queued."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.observability.audit import AuditLog
from tests.support.sinks import StalledSink


async def test_a_stalled_sink_does_not_block_the_event_loop() -> None:
    sink = StalledSink()
    audit = AuditLog(sink, max_pending=4)
    assert audit.reserve()
    written = audit.submit(b'{"a":1}\n')
    await asyncio.to_thread(sink.entered.wait, 10)
    # the sink is stuck in its write; the loop still runs everything else
    ran = []

    async def other_request() -> None:
        ran.append(True)

    await asyncio.wait_for(other_request(), 5)
    assert ran == [True] and not written.done()
    sink.release.set()
    await asyncio.wait_for(written, 10)
    assert sink.written == [b'{"a":1}\n']
    await audit.aclose()


async def test_the_queue_is_bounded_and_places_come_back_once_written() -> None:
    sink = StalledSink()
    audit = AuditLog(sink, max_pending=2)
    assert audit.reserve() and audit.reserve()
    assert not audit.reserve()  # full: the caller refuses its operation (AUDIT_UNAVAILABLE)
    first = audit.submit(b"1\n")
    await asyncio.to_thread(sink.entered.wait, 10)
    second = audit.submit(b"2\n")
    assert not audit.reserve()  # being written or queued still holds a place
    sink.release.set()
    await asyncio.wait_for(asyncio.gather(first, second), 10)
    assert b"".join(sink.written) == b"1\n2\n"  # one writer, in order
    assert audit.reserve() and audit.reserve() and not audit.reserve()
    await audit.submit(b"")  # nothing to write: the place is given back at once
    assert audit.reserve()
    await audit.aclose()


async def test_shutdown_writes_what_is_queued(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(str(path), max_pending=8)
    for n in range(5):
        assert audit.reserve()
        audit.submit(f"{n}\n".encode())  # not awaited: shutdown must still write them
    await audit.aclose()
    assert path.read_bytes() == b"0\n1\n2\n3\n4\n"


async def test_a_failing_sink_is_logged_without_the_lines_and_frees_its_place(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(lines: bytes) -> None:
        raise OSError("disk full")

    audit = AuditLog(broken, max_pending=1)
    assert audit.reserve()
    await asyncio.wait_for(audit.submit(b'{"customerId":"003SECRET"}\n'), 10)
    assert "1 request(s) not recorded" in caplog.text and "003SECRET" not in caplog.text
    assert audit.reserve()
    await audit.aclose()


def test_max_pending_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_pending"):
        AuditLog(lambda lines: None, max_pending=0)
