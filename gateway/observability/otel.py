"""The OpenTelemetry side of `gateway.observability.tracing` (imported only when tracing is on,
so the gateway runs without the `[otel]` extra). An instance per application, never the global
provider: two gateways in one process (tests) keep their spans apart.

The spans are recorded here, not by the SDK's tracer: the SDK costs ~18 us a span (sampler,
attribute validation under a lock, span processors) and its OTLP encoder ~30 us more, ~14% of a
screen pop's CPU with every trace recorded (docs/performance.md "Tracing overhead"). The
gateway's spans are few and their attributes fixed, so a span here is a slotted record, two
random ids and two clock reads, handed on its end to an exporter:
- `OtelTracing.exporting`: OTLP/HTTP (gateway/observability/tracing_otlp.py: encoded and sent
  on a thread of its own, through the SDK exporter's HTTP client and settings);
- `OtelTracing.into(exporter)`: any SDK `SpanExporter`, each span converted to the SDK's
  `ReadableSpan` as it ends (the tests' in-memory exporter).

Context: the current span is this module's own context variable (what a back-end call's span
reads: one lookup), and OpenTelemetry's context is set to it too while an operation, ingest or
delivery runs, so the JSON logs' `traceId` (gateway/observability/logs.py) and anything else
reading OpenTelemetry's current span see the same trace.

Sampling: a span with a parent follows it (parent-based; a caller's `traceparent` is a parent);
a root is recorded with probability `sample_ratio`, by its trace id (the SDK's TraceIdRatioBased
rule, so a trace is kept or not as a whole), or by `OTEL_TRACES_SAMPLER` when that is set.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from random import getrandbits
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from gateway.observability.tracing import NO_SPAN, ActiveSpan, Span, Value
from gateway.observability.tracing_otlp import (
    CLIENT,
    CONSUMER,
    SERVER,
    Finished,
    OtlpExport,
)

__all__ = ["OtelTracing"]

SCOPE = "switchboard"

_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
"""W3C Trace Context version 00, lower-case hex as the spec requires (anything else: ignored,
and the operation starts a trace of its own)."""

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_UNSAMPLED = TraceFlags(TraceFlags.DEFAULT)


class _Parent:
    """A span context children can have: ours (recorded or not) or a remote one."""

    __slots__ = ("prefix", "sampled", "span_id", "trace_id")

    def __init__(self, trace_id: int, span_id: int, sampled: bool) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.sampled = sampled
        self.prefix = f"00-{trace_id:032x}-"
        """A child's traceparent starts so (formatted once per trace, not per call)."""

    @property
    def traceparent(self) -> str:
        return f"{self.prefix}{self.span_id:016x}-{'01' if self.sampled else '00'}"

    def otel(self, remote: bool) -> SpanContext:
        flags = _SAMPLED if self.sampled else _UNSAMPLED
        return SpanContext(self.trace_id, self.span_id, is_remote=remote, trace_flags=flags)


_CURRENT: ContextVar[_Parent | None] = ContextVar("switchboard_span", default=None)


def _remote(traceparent: str | bytes) -> _Parent | None:
    """The span a `traceparent` names (None when it names none, or is malformed)."""
    if isinstance(traceparent, bytes):
        try:
            traceparent = traceparent.decode("ascii")
        except UnicodeDecodeError:
            return None
    found = _TRACEPARENT.fullmatch(traceparent.strip())
    if found is None:
        return None
    trace_id, span_id = int(found.group(1), 16), int(found.group(2), 16)
    if not trace_id or not span_id:
        return None
    return _Parent(trace_id, span_id, bool(int(found.group(3), 16) & 1))


class _Span:
    """A recording span: `end` hands it to the exporter."""

    __slots__ = ("_done", "_record")

    def __init__(self, record: Finished, done: Callable[[Finished], None]) -> None:
        self._record = record
        self._done = done

    def set(self, key: str, value: Value) -> None:
        self._record.attributes[key] = value

    def rename(self, name: str) -> None:
        self._record.name = name

    def end(self, error: bool = False, attributes: Mapping[str, Value] | None = None) -> None:
        record = self._record
        if record.end:
            return
        if attributes:
            record.attributes.update(attributes)
        record.error = error
        record.end = time.time_ns()
        self._done(record)


class _Scope:
    """Makes `parent` current (ours and OpenTelemetry's context) until `end`, which puts back
    what it replaced. By setting rather than resetting a token: a subscription's span is ended
    after the generator resumes, possibly from another task's context, where a token cannot
    be reset."""

    __slots__ = ("_before", "_before_otel", "parent")

    def __init__(self, parent: _Parent | None, remote: bool) -> None:
        self.parent = parent
        self._before = _CURRENT.get()
        self._before_otel = otel_context.get_current()
        _CURRENT.set(parent)
        span = trace.INVALID_SPAN if parent is None else trace.NonRecordingSpan(parent.otel(remote))
        otel_context.attach(trace.set_span_in_context(span, self._before_otel))

    @property
    def traceparent(self) -> str:
        return "" if self.parent is None else self.parent.traceparent

    def leave(self) -> None:
        _CURRENT.set(self._before)
        otel_context.attach(self._before_otel)


class _Active(_Span):
    """A recording span made current from creation until `end`."""

    __slots__ = ("_scope",)

    def __init__(self, record: Finished, done: Callable[[Finished], None], scope: _Scope) -> None:
        super().__init__(record, done)
        self._scope = scope

    def end(self, error: bool = False, attributes: Mapping[str, Value] | None = None) -> None:
        self._scope.leave()
        super().end(error, attributes)

    @property
    def traceparent(self) -> str:
        return self._scope.traceparent


class _Current:
    """A span context made current with nothing recorded: an unsampled operation (its calls
    still pass the trace on, flags 00), or a remote span (`within`)."""

    __slots__ = ("_scope",)

    def __init__(self, scope: _Scope) -> None:
        self._scope = scope

    def set(self, key: str, value: Value) -> None:
        return None

    def rename(self, name: str) -> None:
        return None

    def end(self, error: bool = False, attributes: Mapping[str, Value] | None = None) -> None:
        self._scope.leave()

    @property
    def traceparent(self) -> str:
        return self._scope.traceparent


Sampler = Callable[[int, str], bool]
"""(trace id, span name) -> record it: for a root span only (children follow their parent)."""


def _ratio(ratio: float) -> Sampler:
    """The SDK's TraceIdRatioBased rule: the low 64 bits of the trace id below ratio * 2^64."""
    bound = round(ratio * (1 << 64))
    mask = (1 << 64) - 1
    return lambda trace_id, name: (trace_id & mask) < bound


def _from_environment() -> Sampler:
    """OTEL_TRACES_SAMPLER (and its _ARG), as the SDK reads them, asked about roots only (the
    config's loader says whether it is set: TelemetrySettings.otel_sampler)."""
    from opentelemetry.sdk.trace.sampling import Decision, _get_from_env_or_default

    sampler = _get_from_env_or_default()
    root = otel_context.Context()
    keep = Decision.RECORD_AND_SAMPLE
    return lambda trace_id, name: sampler.should_sample(root, trace_id, name).decision is keep


class OtelTracing:
    enabled = True

    def __init__(
        self,
        export: Callable[[Finished], None],
        sample_ratio: float = 1.0,
        resource: Resource | None = None,
        shutdown: Callable[[], None] | None = None,
        sampler_from_environment: bool = False,
    ) -> None:
        """`export` gets each recorded span as it ends, on the event loop's thread: it must be
        quick (OtlpExport queues it)."""
        self._export = export
        self._sampled: Sampler
        if sample_ratio < 1.0:
            self._sampled = _ratio(sample_ratio)
        elif sampler_from_environment:
            self._sampled = _from_environment()
        else:
            self._sampled = lambda trace_id, name: True
        self.resource = resource or Resource.create({"service.name": SCOPE})
        self._shutdown = shutdown

    @classmethod
    def exporting(
        cls,
        endpoint: str | None,
        service_name: str,
        sample_ratio: float = 1.0,
        sampler_from_environment: bool = False,
    ) -> OtelTracing:
        """OTLP/HTTP to `endpoint`, the collector's base URL (`/v1/traces` is added); None: the
        OTEL_EXPORTER_OTLP_* variables."""
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        if endpoint is not None and not endpoint.rstrip("/").endswith("/v1/traces"):
            endpoint = endpoint.rstrip("/") + "/v1/traces"
        resource = Resource.create({"service.name": service_name})
        sender = _Sender(OTLPSpanExporter(endpoint=endpoint))
        attributes = {
            k: v for k, v in resource.attributes.items() if isinstance(v, str | int | bool)
        }
        export = OtlpExport(sender, attributes, SCOPE)
        return cls(export, sample_ratio, resource, export.shutdown, sampler_from_environment)

    @classmethod
    def into(
        cls,
        exporter: SpanExporter,
        sample_ratio: float = 1.0,
        sampler_from_environment: bool = False,
    ) -> OtelTracing:
        """Each span, as it ends, to an SDK exporter (synchronously: tests, debugging)."""
        resource = Resource.create({"service.name": SCOPE})
        scope = InstrumentationScope(SCOPE)

        def export(record: Finished) -> None:
            exporter.export([_readable(record, resource, scope)])

        return cls(export, sample_ratio, resource, exporter.shutdown, sampler_from_environment)

    def _start(self, name: str, kind: int, headers: Sequence[tuple[bytes, bytes]]) -> ActiveSpan:
        """A server-side span current from now: the child of the caller's `traceparent` when
        it sent one, else of the current span, else a root."""
        parent = _CURRENT.get()
        remote = False
        for key, value in headers:
            if key == b"traceparent":
                named = _remote(value)
                if named is not None:
                    parent, remote = named, True
                break
        if parent is None:
            trace_id = getrandbits(128) or 1
            sampled = self._sampled(trace_id, name)
            parent_id = 0
        else:
            trace_id, sampled, parent_id = parent.trace_id, parent.sampled, parent.span_id
        ours = _Parent(trace_id, getrandbits(64) or 1, sampled)
        scope = _Scope(ours, remote=False)
        if not sampled:
            return _Current(scope)
        record = Finished(name, kind, trace_id, ours.span_id, parent_id, remote, time.time_ns())
        return _Active(record, self._export, scope)

    def operation(self, headers: Sequence[tuple[bytes, bytes]] = ()) -> ActiveSpan:
        return self._start("graphql.operation", SERVER, headers)

    def call(self, system: str, resource: str, keys: int) -> tuple[Span, Mapping[str, str]]:
        parent = _CURRENT.get()
        span_id = getrandbits(64) or 1
        if parent is None:  # outside any operation (a background read): a trace of its own
            trace_id = getrandbits(128) or 1
            prefix, parent_id = f"00-{trace_id:032x}-", 0
            if not self._sampled(trace_id, system):
                return NO_SPAN, {"traceparent": f"{prefix}{span_id:016x}-00"}
        elif not parent.sampled:
            # a trace not recorded: no span, the parent's context passed on (flags 00), so
            # the systems still see one trace and record nothing either
            return NO_SPAN, {"traceparent": parent.traceparent}
        else:
            trace_id, prefix, parent_id = parent.trace_id, parent.prefix, parent.span_id
        record = Finished(
            f"{system} GET {resource}",
            CLIENT,
            trace_id,
            span_id,
            parent_id,
            False,
            time.time_ns(),
            attributes={
                "switchboard.system": system,
                "switchboard.resource": resource,
                "switchboard.keys": keys,
            },
        )
        return _Span(record, self._export), {"traceparent": f"{prefix}{span_id:016x}-01"}

    def ingest(self, system: str) -> ActiveSpan:
        span = self._start("webhook.ingest", SERVER, ())
        span.set("switchboard.system", system)
        return span

    def within(self, traceparent: str) -> ActiveSpan:
        # naming none, no span is current: each read is a trace of its own
        return _Current(_Scope(_remote(traceparent), remote=True))

    def delivery(self, traceparent: str, started_ns: int) -> ActiveSpan:
        linked = _remote(traceparent)
        trace_id = getrandbits(128) or 1  # a trace of its own, linked to the ingest
        ours = _Parent(trace_id, getrandbits(64) or 1, self._sampled(trace_id, "event.delivery"))
        scope = _Scope(ours, remote=False)
        if not ours.sampled:
            return _Current(scope)
        links = () if linked is None else ((linked.trace_id, linked.span_id),)
        record = Finished(
            "event.delivery", CONSUMER, trace_id, ours.span_id, 0, False, started_ns, links=links
        )
        return _Active(record, self._export, scope)

    def shutdown(self) -> None:
        if self._shutdown is not None:
            self._shutdown()


class _Sender:
    """The SDK OTLP/HTTP exporter's client (its settings, compression and retries), given our
    encoded bytes. Its `_client` is private API: the extra pins the SDK's exact version, and
    tests/gateway/test_tracing_otlp.py sends through it."""

    def __init__(self, exporter: Any) -> None:
        self._exporter = exporter

    def send(self, body: bytes) -> bool:
        ok: bool = self._exporter._client.export(body).success
        return ok

    def shutdown(self) -> None:
        self._exporter.shutdown()


_KINDS = {SERVER: SpanKind.SERVER, CLIENT: SpanKind.CLIENT, CONSUMER: SpanKind.CONSUMER}
_ERROR = Status(StatusCode.ERROR)
_UNSET = Status(StatusCode.UNSET)


def _readable(r: Finished, resource: Resource, scope: InstrumentationScope) -> ReadableSpan:
    parent = None
    if r.parent_id:
        parent = SpanContext(r.trace_id, r.parent_id, is_remote=r.remote_parent)
    return ReadableSpan(
        r.name,
        context=SpanContext(r.trace_id, r.span_id, is_remote=False, trace_flags=_SAMPLED),
        parent=parent,
        resource=resource,
        attributes=dict(r.attributes),
        links=[Link(SpanContext(t, s, is_remote=True, trace_flags=_SAMPLED)) for t, s in r.links],
        kind=_KINDS.get(r.kind, SpanKind.INTERNAL),
        status=_ERROR if r.error else _UNSET,
        start_time=r.start,
        end_time=r.end,
        instrumentation_scope=scope,
    )
