"""The audit writer, started by the first request that audits, keeps no request's context: it
writes every request's lines for the process's life (issue #18: it held the first request's
scope and log context for ever)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import weakref

from gateway.observability.audit import AuditLog


class _Marker:
    """Something a request's context holds: alive as long as anything keeps that context."""


_REQUEST: contextvars.ContextVar[_Marker | None] = contextvars.ContextVar("test_audit_request")


async def test_the_writer_does_not_keep_the_first_request_alive() -> None:
    written: list[bytes] = []
    audit = AuditLog(written.append)

    async def request(marker: _Marker) -> None:
        _REQUEST.set(marker)
        assert audit.reserve()
        await audit.submit(b'{"a":1}\n')

    marker = _Marker()
    gone = weakref.ref(marker)
    await asyncio.create_task(request(marker))
    del marker
    await asyncio.sleep(0)  # out of the callback that resumed us, which holds the finished task
    gc.collect()
    try:
        assert written == [b'{"a":1}\n']
        assert gone() is None, "the audit writer kept the first request's context"
    finally:
        await audit.aclose()
