"""The gateway's spans as OTLP/HTTP protobuf, encoded and sent off the event loop.

Why not the SDK's BatchSpanProcessor + OTLPSpanExporter: its encoder builds a protobuf message
object per span, attribute and value (~30 us a span), and the processor takes a lock and checks
its queue on every span end; both run in this process, so on the CPU budget the requests have
(docs/performance.md "Tracing overhead"). Here a finished span is one `deque.append` on the
loop's thread; a thread of our own takes up to `BATCH` at a time, writes the protobuf bytes
directly (each attribute's encoding memoised: the keys and most values come from fixed sets)
and hands them to the SDK exporter's HTTP client, which keeps the OTEL_EXPORTER_OTLP_* settings
(endpoint, headers, timeout, compression, certificates) and the retries. The wire format is
opentelemetry-proto's `ExportTraceServiceRequest`; tests/gateway/test_tracing_otlp.py decodes
what is sent with the generated classes and compares it with the SDK's own encoding.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["BATCH", "Finished", "OtlpExport", "encode"]

log = logging.getLogger("switchboard")

Value = str | int | bool

BATCH = 512
"""Spans per export request (the SDK's default batch size)."""
QUEUE = 8192
"""Finished spans waiting for the exporter at most; beyond, the oldest are dropped (counted)."""
INTERVAL = 1.0
"""Seconds between exports when fewer than `BATCH` spans are waiting."""

# OTLP SpanKind
INTERNAL, SERVER, CLIENT, PRODUCER, CONSUMER = 1, 2, 3, 4, 5


@dataclass(slots=True, eq=False)
class Finished:
    """A span as recorded (gateway/observability/otel.py): ids as integers, times in ns since
    the epoch, `links` as (trace id, span id) of spans in other traces."""

    name: str
    kind: int
    trace_id: int
    span_id: int
    parent_id: int
    """0: a root span."""
    remote_parent: bool
    start: int
    end: int = 0
    attributes: dict[str, Value] = field(default_factory=dict)
    error: bool = False
    links: tuple[tuple[int, int], ...] = ()


def _varint(n: int) -> bytes:
    if n < 0:
        n &= 0xFFFFFFFFFFFFFFFF  # int64 two's complement, as protobuf writes it
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _delimited(tag: bytes, payload: bytes) -> bytes:
    return tag + _varint(len(payload)) + payload


def _any_value(value: Value) -> bytes:
    if isinstance(value, bool):  # before int: a bool is an int
        return b"\x10" + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        return b"\x18" + _varint(value)
    return _delimited(b"\x0a", str(value).encode())


_ATTRIBUTES: dict[tuple[str, type, Value], bytes] = {}
_ATTRIBUTES_MAX = 4096
"""Memoised KeyValue encodings: keys and most values are from fixed sets (systems, resources,
statuses); a key count is a small integer. Cleared if something unbounded ever fills it."""


def _key_value(key: str, value: Value) -> bytes:
    memo = (key, type(value), value)  # the type too: True == 1 in a dict
    encoded = _ATTRIBUTES.get(memo)
    if encoded is None:
        pair = _delimited(b"\x0a", key.encode()) + _delimited(b"\x12", _any_value(value))
        encoded = _delimited(b"", pair)
        if len(_ATTRIBUTES) >= _ATTRIBUTES_MAX:
            _ATTRIBUTES.clear()
        _ATTRIBUTES[memo] = encoded
    return encoded


_NAMES: dict[str, bytes] = {}


def _name(name: str) -> bytes:
    encoded = _NAMES.get(name)
    if encoded is None:
        encoded = _delimited(b"\x2a", name.encode())
        if len(_NAMES) < _ATTRIBUTES_MAX:  # span names are from fixed sets too
            _NAMES[name] = encoded
    return encoded


_ERROR = b"\x7a\x02\x18\x02"  # status (15) { code (3): STATUS_CODE_ERROR }
_UNSET = b"\x7a\x00"  # status (15) {}: unset, as the SDK writes it
# Span.flags (16, fixed32) and Link.flags (6, fixed32): 0x100 "whether the parent (the linked
# span) is remote is known", 0x200 "it is remote"; the trace flags' bits left 0, as the SDK does
_LOCAL_PARENT = b"\x85\x01" + (0x100).to_bytes(4, "little")
_REMOTE_PARENT = b"\x85\x01" + (0x300).to_bytes(4, "little")
_REMOTE_LINK = b"\x35" + (0x300).to_bytes(4, "little")


def _span(s: Finished) -> bytes:
    parts = [
        b"\x0a\x10",
        s.trace_id.to_bytes(16, "big"),
        b"\x12\x08",
        s.span_id.to_bytes(8, "big"),
    ]
    if s.parent_id:
        parts += (b"\x22\x08", s.parent_id.to_bytes(8, "big"))
    parts += (
        _name(s.name),
        b"\x30",
        bytes((s.kind,)),
        b"\x39",
        s.start.to_bytes(8, "little"),
        b"\x41",
        s.end.to_bytes(8, "little"),
    )
    for key, value in s.attributes.items():
        parts += (b"\x4a", _key_value(key, value))
    for trace_id, span_id in s.links:  # a linked span is another trace's: remote
        link = b"\x0a\x10" + trace_id.to_bytes(16, "big") + b"\x12\x08" + span_id.to_bytes(8, "big")
        parts += (b"\x6a", _delimited(b"", link + _REMOTE_LINK))
    parts.append(_ERROR if s.error else _UNSET)
    parts.append(_REMOTE_PARENT if s.remote_parent else _LOCAL_PARENT)
    return b"".join(parts)


def encode(spans: Iterable[Finished], resource: Mapping[str, Value], scope: str) -> bytes:
    """An ExportTraceServiceRequest: one resource, one instrumentation scope, these spans."""
    body = b"".join(_delimited(b"\x12", _span(s)) for s in spans)  # ScopeSpans.spans (2)
    scope_spans = _delimited(b"\x0a", _delimited(b"\x0a", scope.encode())) + body
    attributes = b"".join(b"\x0a" + _key_value(k, v) for k, v in resource.items())
    resource_spans = _delimited(b"\x0a", attributes) + _delimited(b"\x12", scope_spans)
    return _delimited(b"\x0a", resource_spans)


class Sender(Protocol):
    """What sends an encoded request (the SDK exporter's HTTP client)."""

    def send(self, body: bytes) -> bool: ...

    def shutdown(self) -> None: ...


class OtlpExport:
    """Finished spans -> OTLP/HTTP, on a thread of its own (module docstring)."""

    def __init__(self, sender: Sender, resource: Mapping[str, Value], scope: str) -> None:
        self._sender = sender
        self._resource = dict(resource)
        self._scope = scope
        self._queue: deque[Finished] = deque(maxlen=QUEUE)
        self._wake = threading.Event()
        self._stopping = False
        self.dropped = 0
        """Spans dropped because the queue was full (the collector slower than the spans)."""
        self._start()
        # a process forked after this (not what `serve --workers` does: each worker makes its
        # own application) has no exporter thread: it starts its own, with an empty queue
        os.register_at_fork(after_in_child=self._restart)

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="switchboard-otlp", daemon=True)
        self._thread.start()

    def _restart(self) -> None:
        self._queue = deque(maxlen=QUEUE)
        self._wake = threading.Event()
        if not self._stopping:
            self._start()

    def __call__(self, span: Finished) -> None:
        """On the event loop's thread: one append (and a wake-up once a batch is waiting)."""
        queue = self._queue
        if len(queue) == QUEUE:
            self.dropped += 1
        queue.append(span)
        if len(queue) >= BATCH and not self._wake.is_set():
            self._wake.set()

    def _run(self) -> None:
        """Full batches as soon as they are waiting, a partial one only every `INTERVAL` (or at
        shutdown): never a stream of small requests, each of which costs a POST."""
        while True:
            timed_out = not self._wake.wait(INTERVAL)
            self._wake.clear()
            stopping = self._stopping
            self._drain(everything=timed_out or stopping)
            if stopping:
                return

    def _drain(self, everything: bool) -> None:
        queue = self._queue
        left = len(queue)  # what arrives meanwhile waits for the next wake-up
        while left >= BATCH or (everything and left > 0):
            take = min(left, BATCH)
            left -= take
            self.export([queue.popleft() for _ in range(take)])

    def export(self, batch: Sequence[Finished]) -> None:
        try:
            body = encode(batch, self._resource, self._scope)
            self._sender.send(body)
        except Exception:  # a collector's trouble never reaches the requests
            log.warning("span export failed", exc_info=True)

    def shutdown(self) -> None:
        """Export what is queued, then stop (at shutdown)."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=30)
        self._sender.shutdown()
