"""The audit trail (PCI DSS 10.2.1.1, GLBA 314.4(c)(8)): one JSON line per (field, customer) per
request for every sensitive read returned with a treatment other than redact/deny, and for every
denial; one per lookup; alerts. Who, roles, what operation, which class and field, which customer,
on which interaction, what treatment, the outcome and when — never the value.

Writing never blocks the event loop (REVIEW D7): a request reserves a place in a bounded queue
before it executes, hands its lines over when it ends and awaits them written before it answers;
one writer task drains the queue and writes on a thread of its own, the other requests carrying
on meanwhile. When every place is taken (the sink has fallen behind), the operation is refused
(503, AUDIT_UNAVAILABLE) before it reads anything: a sensitive read is never returned before its
audit line is written, and no line is dropped to make room."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

__all__ = ["AuditLog", "safe_operation_name"]

log = logging.getLogger("switchboard.audit")

SHUTDOWN_SECONDS = 10.0


class AuditLog:
    """Writes events as JSON lines to stdout (default), stderr, a file, or a callable, through
    a queue of at most `max_pending` requests' lines (queued, being written, or reserved)."""

    def __init__(self, sink: str | Callable[[bytes], None] = "stdout", max_pending: int = 1024):
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self._file: IO[bytes] | None = None
        self._sink: Callable[[bytes], None] | None = None
        if callable(sink):
            self._sink = sink
        elif sink not in ("stdout", "stderr"):
            self._file = Path(sink).open("ab", buffering=0)  # noqa: SIM115 (lives with the app)
        self._stream_name = sink if sink in ("stdout", "stderr") else None
        self.max_pending = max_pending
        self._free = max_pending
        self._queue: asyncio.Queue[tuple[bytes, asyncio.Future[None]]] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._thread: ThreadPoolExecutor | None = None

    def _write(self, lines: bytes) -> None:
        if self._sink is not None:
            self._sink(lines)
        elif self._file is not None:
            self._file.write(lines)
        else:
            stream = sys.stdout if self._stream_name == "stdout" else sys.stderr
            stream.buffer.write(lines)
            stream.flush()

    @property
    def pending(self) -> int:
        """Requests whose lines are reserved, queued or being written (a metric's gauge)."""
        return self.max_pending - self._free

    def reserve(self) -> bool:
        """A place for one request's lines, or False when the queue is full."""
        if self._free == 0:
            return False
        self._free -= 1
        return True

    def submit(self, lines: bytes) -> asyncio.Future[None]:
        """Hand over a reserved place's lines (empty: give the place back); the future is done
        once they are written. Cancelling a wait for it does not withdraw the lines."""
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not lines:
            self._free += 1
            written.set_result(None)
            return written
        if self._writer is None:
            self._start()
        assert self._queue is not None
        self._queue.put_nowait((lines, written))  # never full: each item holds a reservation
        return written

    def _start(self) -> None:
        self._queue = asyncio.Queue()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="audit")
        # started by the first request that audits, but the writer of every request's lines:
        # in an empty context, not that request's (its scope, log context) kept for ever
        self._writer = asyncio.get_running_loop().create_task(
            self._drain(), context=contextvars.Context()
        )

    async def _drain(self) -> None:
        """The one writer: everything queued so far in one write, on the audit thread."""
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                lines = b"".join(item[0] for item in batch)
                await loop.run_in_executor(self._thread, self._write, lines)
            except Exception:
                # the lines are lost: say so (without them), keep writing the next ones
                log.exception("audit sink failed: %d request(s) not recorded", len(batch))
            finally:
                self._free += len(batch)
                for _, written in batch:
                    if not written.done():
                        written.set_result(None)
                    self._queue.task_done()

    async def aclose(self) -> None:
        """Write what is queued, then stop (at shutdown, after the last request); a sink that
        takes longer than SHUTDOWN_SECONDS loses what is left, and the log says so."""
        writer, self._writer = self._writer, None
        if writer is not None and self._queue is not None:
            try:
                async with asyncio.timeout(SHUTDOWN_SECONDS):
                    await self._queue.join()
            except TimeoutError:
                log.error(
                    "audit sink stalled at shutdown: %d request(s) not recorded",
                    self._queue.qsize(),
                )
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def safe_operation_name(name: str | None) -> str | None:
    """Operation names come from the client: keep them short and printable (log injection)."""
    if name is None:
        return None
    cleaned = "".join(ch if ch.isprintable() else "\ufffd" for ch in name[:128])
    return cleaned
