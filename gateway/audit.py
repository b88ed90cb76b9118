"""The audit trail (PCI DSS 10.2.1.1, GLBA 314.4(c)(8)): one JSON line per (field, customer) per
request for every sensitive read returned with a treatment other than redact/deny, and for every
denial. Who, roles, what operation, which class and field, which customer, on which interaction,
what treatment, the outcome and when — never the value."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["AuditLog", "safe_operation_name"]


class AuditLog:
    """Writes events as JSON lines to stdout (default), stderr, a file, or a callable."""

    def __init__(self, sink: str | Callable[[bytes], None] = "stdout") -> None:
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        self._sink: Callable[[bytes], None] | None = None
        if callable(sink):
            self._sink = sink
        elif sink not in ("stdout", "stderr"):
            self._file = Path(sink).open("ab", buffering=0)  # noqa: SIM115 (lives with the app)
        self._stream_name = sink if sink in ("stdout", "stderr") else None

    def _write(self, lines: bytes) -> None:
        if self._sink is not None:
            self._sink(lines)
        elif self._file is not None:
            self._file.write(lines)
        else:
            stream = sys.stdout if self._stream_name == "stdout" else sys.stderr
            stream.buffer.write(lines)
            stream.flush()

    def write(self, lines: bytes) -> None:
        """JSON lines, each ending in a newline."""
        if lines:
            with self._lock:
                self._write(lines)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def safe_operation_name(name: str | None) -> str | None:
    """Operation names come from the client: keep them short and printable (log injection)."""
    if name is None:
        return None
    cleaned = "".join(ch if ch.isprintable() else "\ufffd" for ch in name[:128])
    return cleaned
