"""The OpenTelemetry side of `gateway.observability.tracing` (imported only when tracing is on,
so the gateway runs without the `[otel]` extra). A provider per application, never the global
one: two gateways in one process (tests) keep their spans apart."""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from gateway.observability.tracing import NO_SPAN, ActiveSpan, Span, Value

__all__ = ["OtelTracing"]

_PROPAGATOR = TraceContextTextMapPropagator()
_ERROR = Status(StatusCode.ERROR)


class _Span:
    __slots__ = ("_span",)

    def __init__(self, span: trace.Span) -> None:
        self._span = span

    def set(self, key: str, value: Value) -> None:
        self._span.set_attribute(key, value)

    def rename(self, name: str) -> None:
        self._span.update_name(name)

    def end(self, error: bool = False, attributes: Mapping[str, Value] | None = None) -> None:
        span = self._span
        if attributes:
            span.set_attributes(attributes)
        if error:
            span.set_status(_ERROR)
        span.end()

    @property
    def traceparent(self) -> str:
        return _traceparent(self._span.get_span_context())


class _Active(_Span):
    """Current from creation until `end`, which puts back the context it replaced. By setting
    (attach) rather than resetting a token: a subscription's span is ended after the generator
    resumes, possibly from another task's context, where a token cannot be reset. `own`: the
    span is ours to end (not a remote one made current)."""

    __slots__ = ("_before", "_own")

    def __init__(self, span: trace.Span, own: bool = True) -> None:
        super().__init__(span)
        self._own = own
        self._before = otel_context.get_current()
        otel_context.attach(trace.set_span_in_context(span))

    def end(self, error: bool = False, attributes: Mapping[str, Value] | None = None) -> None:
        otel_context.attach(self._before)
        if self._own:
            super().end(error, attributes)


def _traceparent(context: trace.SpanContext) -> str:
    """W3C Trace Context, version 00 (what the propagator's `inject` writes, without building a
    context and a carrier for it)."""
    if not context.is_valid:
        return ""
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def _remote(traceparent: str) -> trace.SpanContext:
    """The span context a `traceparent` names (invalid when it names none)."""
    if not traceparent:
        return trace.INVALID_SPAN_CONTEXT
    span = trace.get_current_span(_PROPAGATOR.extract({"traceparent": traceparent}))
    return span.get_span_context()


class OtelTracing:
    enabled = True

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("switchboard")

    @classmethod
    def exporting(
        cls, endpoint: str | None, service_name: str, sample_ratio: float = 1.0
    ) -> OtelTracing:
        """OTLP/HTTP, batched off the event loop (the exporter's own thread). `endpoint` is the
        collector's base URL (`/v1/traces` is added); None: the OTEL_EXPORTER_OTLP_* variables.
        Below 1.0, `sample_ratio` of the traces are recorded (by trace id, children following
        their parent); at 1.0, the SDK's default (OTEL_TRACES_SAMPLER, else every trace)."""
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        if endpoint is not None and not endpoint.rstrip("/").endswith("/v1/traces"):
            endpoint = endpoint.rstrip("/") + "/v1/traces"
        sampler = ParentBased(TraceIdRatioBased(sample_ratio)) if sample_ratio < 1.0 else None
        provider = TracerProvider(
            resource=Resource.create({"service.name": service_name}), sampler=sampler
        )
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        return cls(provider)

    def operation(self) -> ActiveSpan:
        return _Active(self._tracer.start_span("graphql.operation", kind=SpanKind.SERVER))

    def call(self, system: str, resource: str, keys: int) -> tuple[Span, Mapping[str, str]]:
        parent = trace.get_current_span().get_span_context()
        if parent.is_valid and not parent.trace_flags.sampled:
            # a trace not recorded (sample_ratio): no span, the operation's context passed on
            # (flags 00), so the systems still see one trace and record nothing either
            return NO_SPAN, {"traceparent": _traceparent(parent)}
        span = self._tracer.start_span(
            f"{system} GET {resource}",
            kind=SpanKind.CLIENT,
            attributes={
                "switchboard.system": system,
                "switchboard.resource": resource,
                "switchboard.keys": keys,
            },
        )
        return _Span(span), {"traceparent": _traceparent(span.get_span_context())}

    def ingest(self, system: str) -> ActiveSpan:
        return _Active(
            self._tracer.start_span(
                "webhook.ingest",
                kind=SpanKind.SERVER,
                attributes={"switchboard.system": system},
            )
        )

    def within(self, traceparent: str) -> ActiveSpan:
        return _Active(trace.NonRecordingSpan(_remote(traceparent)), own=False)

    def delivery(self, traceparent: str, started_ns: int) -> ActiveSpan:
        linked = _remote(traceparent)
        links = [Link(linked)] if linked.is_valid else []
        span = self._tracer.start_span(
            "event.delivery",
            context=otel_context.Context(),  # a trace of its own, linked to the ingest
            kind=SpanKind.CONSUMER,
            links=links,
            start_time=started_ns,
        )
        return _Active(span)

    def shutdown(self) -> None:
        self.provider.shutdown()
