"""The audit trail (PCI DSS 10.2.1.1, GLBA 314.4(c)(8)): one JSON line per (field, customer) per
request for every sensitive read returned with a treatment other than redact/deny, and for every
denial; one per lookup; alerts. Who, roles, what operation, which class and field, which customer,
on which interaction, what treatment, the outcome and when — never the value.

Writing never blocks the event loop (REVIEW D7): a request reserves a place in a bounded queue
before it executes, hands its lines over when it ends and awaits them written before it answers;
one writer thread drains the queue, the other requests carrying on meanwhile. When every place
is taken (the sink has fallen behind), the operation is refused (503, AUDIT_UNAVAILABLE) before
it reads anything: a sensitive read is never returned before its audit line is written, and no
line is dropped to make room."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["AuditLog", "safe_operation_name"]

log = logging.getLogger("switchboard.audit")

SHUTDOWN_SECONDS = 10.0


_Item = tuple[bytes, "asyncio.Future[None]"]
"""One request's lines and the future told once they are written."""


class AuditLog:
    """Writes events as JSON lines to stdout (default), stderr, a file, or a callable, through
    a queue of at most `max_pending` requests' lines (queued, being written, or reserved).

    The writer is a thread of its own, not a task on the event loop: a request's lines go
    straight onto its queue (a `SimpleQueue`, which wakes it), it writes everything queued so
    far in one write, and wakes the loop once per such batch to tell the waiting requests. The
    loop does no work of its own between a hand-over and the write (there was a writer task to
    wake and an executor's future to chain: two more turns of the loop on every answer's path).
    """

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
        self._queued = 0
        """Handed over and not yet told written (read and changed on the loop only)."""
        self._items: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

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
        if self._thread is None:
            self._start()
        self._queued += 1
        self._items.put((lines, written))  # never full: each item holds a reservation
        return written

    def _start(self) -> None:
        # a new thread starts in an empty context: it keeps no request's (its scope, its log
        # context) for the process's life; a daemon, so a stalled sink cannot hold the exit
        self._thread = threading.Thread(target=self._run, name="audit", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """The writer thread: everything queued so far in one write, then one wake-up of the
        loop for the whole batch; until `aclose` says stop."""
        items = self._items
        while True:
            first = items.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while not items.empty():
                item = items.get_nowait()
                if item is None:
                    stop = True
                    break
                batch.append(item)
            lines = b"".join(item[0] for item in batch)
            try:
                if lines:
                    self._write(lines)
            except Exception:
                # the lines are lost: say so (without them), keep writing the next ones
                log.exception("audit sink failed: %d request(s) not recorded", len(batch))
            loop = batch[0][1].get_loop()  # the app's: one AuditLog serves one event loop
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(self._settle, batch)
            if stop:
                return

    def _settle(self, batch: list[_Item]) -> None:
        """On the loop: the batch is written (or lost, and logged); its places come back."""
        for lines, written in batch:
            if lines:  # not `aclose`'s marker
                self._free += 1
                self._queued -= 1
            if not written.done():
                written.set_result(None)

    async def aclose(self) -> None:
        """Write what is queued, then stop (at shutdown, after the last request); a sink that
        takes longer than SHUTDOWN_SECONDS loses what is left, and the log says so."""
        thread, self._thread = self._thread, None
        if thread is not None:
            # written after everything handed over before it (one writer, in order)
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._items.put((b"", done))
            self._items.put(None)
            try:
                async with asyncio.timeout(SHUTDOWN_SECONDS):
                    await done
            except TimeoutError:
                log.error(
                    "audit sink stalled at shutdown: %d request(s) not recorded", self._queued
                )
                return  # the stalled write keeps its file; the process's exit closes it
            thread.join()  # it has nothing left to do but return
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
