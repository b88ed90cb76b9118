"""The audit writer is a thread of its own (issue #18, round 5): a request's lines go straight
to it, with no writer task on the event loop to wake first, and the loop is woken once per
batch written; a sink stalled at shutdown holds the shutdown no longer than its limit."""

from __future__ import annotations

import asyncio

import pytest

from gateway.observability import audit as audit_module
from gateway.observability.audit import AuditLog
from tests.support.sinks import StalledSink


async def test_handing_lines_over_starts_no_task_on_the_loop() -> None:
    written: list[bytes] = []
    audit = AuditLog(written.append)
    before = asyncio.all_tasks()
    assert audit.reserve()
    done = audit.submit(b'{"a":1}\n')
    assert asyncio.all_tasks() == before  # no writer task: nothing on the loop to wake first
    await asyncio.wait_for(done, 10)
    assert written == [b'{"a":1}\n']
    await audit.aclose()


async def test_lines_queued_behind_a_write_go_in_one_write_and_one_wake_up() -> None:
    sink = StalledSink()
    audit = AuditLog(sink, max_pending=8)
    loop = asyncio.get_running_loop()
    wake_ups = 0
    threadsafe = loop.call_soon_threadsafe

    def counted(*args: object, **kwargs: object) -> asyncio.Handle:
        nonlocal wake_ups
        wake_ups += 1
        return threadsafe(*args, **kwargs)  # type: ignore[arg-type]

    assert audit.reserve()
    first = audit.submit(b"1\n")
    await asyncio.to_thread(sink.entered.wait, 10)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop, "call_soon_threadsafe", counted)
        rest = []
        for n in (2, 3, 4):
            assert audit.reserve()
            rest.append(audit.submit(f"{n}\n".encode()))
        sink.release.set()
        await asyncio.wait_for(asyncio.gather(first, *rest), 10)
    assert sink.written == [b"1\n", b"2\n3\n4\n"]
    assert wake_ups == 2  # one per batch: the stalled one, then the three queued behind it
    assert audit.pending == 0
    await audit.aclose()


async def test_a_sink_stalled_at_shutdown_holds_it_no_longer_than_its_limit(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(audit_module, "SHUTDOWN_SECONDS", 0.05)
    sink = StalledSink()
    audit = AuditLog(sink, max_pending=4)
    assert audit.reserve()
    audit.submit(b"1\n")
    await asyncio.to_thread(sink.entered.wait, 10)
    try:
        await asyncio.wait_for(audit.aclose(), 5)
        assert "audit sink stalled at shutdown: 1 request(s) not recorded" in caplog.text
    finally:
        sink.release.set()
