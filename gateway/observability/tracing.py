"""Traces, if configured: the spans the gateway makes, and nothing when tracing is off.

Tracing is the optional extra `[otel]` (opentelemetry-api/sdk/exporter-otlp-proto-http). It is
on when `[telemetry] otlp_endpoint` is set or the standard `OTEL_EXPORTER_OTLP_ENDPOINT` is in
the environment; otherwise, and whenever the extra is not installed, the gateway runs with
`NO_TRACING`, whose methods do nothing and return shared no-op handles: the hot path makes no
span, formats no attribute and imports no OpenTelemetry module (gateway/observability/otel.py
is imported only here, only when tracing is on).

The spans (never one per field: strawberry's OpenTelemetryExtension makes a span per resolved
object, at 7-10x the cost of a plain leaf; STACK-NOTES A2):
- `graphql.operation` per HTTP operation: type, execution mode, result; a child of the caller's
  span when the request carries a `traceparent`. Its name carries the
  operation's name only for a trusted document (a name from the manifest, a fixed set); a
  name a caller writes is free text (PII, or unbounded cardinality in the trace store), so an
  ad-hoc operation is named by its type alone;
- one per back-end call (a batch, retries included): system, resource (the fixed path), how
  many keys (never the keys), status, retries, breaker state; the call carries `traceparent`;
- `webhook.ingest` per signed delivery: system, outcome, events; each event published carries
  the span's context as the CloudEvent `traceparent` extension attribute;
- `event.delivery` per frame a subscriber gets, linked to that ingest span (a new trace: one
  event fans out to many subscribers). The reads the feed makes to decide and build a frame
  (shared by the replica's subscribers: gateway/events/reads.py) are children of the ingest
  span, across replicas too; reads made while the frame's fields resolve, of the delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Protocol

from gateway.settings_env import ConfigError

__all__ = [
    "NO_SPAN",
    "NO_TRACING",
    "ActiveSpan",
    "Span",
    "Tracing",
    "TracingUnavailable",
    "tracing_for",
]

log = logging.getLogger("switchboard")

Value = str | int | bool


class Span(Protocol):
    def set(self, key: str, value: Value) -> None: ...

    def rename(self, name: str) -> None: ...

    def end(self, error: bool = False, attributes: Mapping[str, Value] | None = None) -> None:
        """Once; `error` marks the span's status as an error; `attributes` are set first (one
        call for several: each `set` takes the span's lock)."""


class ActiveSpan(Span, Protocol):
    """A span made the current one (its children are what runs while it is): `end` restores
    the context that was current before it, whichever task ends it."""

    @property
    def traceparent(self) -> str:
        """The W3C trace context naming this span ("" when not tracing)."""
        ...


class Tracing(Protocol):
    @property
    def enabled(self) -> bool: ...

    def operation(self, headers: Sequence[tuple[bytes, bytes]] = ()) -> ActiveSpan:
        """The operation's span, current until `end`. `headers`: the request's (ASGI scope
        `headers`): a valid W3C `traceparent` among them makes the span its child, in the
        caller's trace (and the caller's sampling decision is kept)."""
        ...

    def call(self, system: str, resource: str, keys: int) -> tuple[Span, Mapping[str, str]]:
        """A back-end call's span (a child of the current one) and the headers that carry its
        context to the system."""
        ...

    def ingest(self, system: str) -> ActiveSpan: ...

    def within(self, traceparent: str) -> ActiveSpan:
        """The remote span `traceparent` names made current (no span of its own) until `end`:
        what an event's feed reads is traced under the webhook's ingest span."""
        ...

    def delivery(self, traceparent: str, started_ns: int) -> ActiveSpan:
        """A frame's span from `started_ns` (time.time_ns()), linked to the ingest span that
        `traceparent` names (none if it names none)."""
        ...

    def shutdown(self) -> None:
        """Flush what is queued (at shutdown)."""


class _NoSpan:
    __slots__ = ()
    traceparent = ""

    def set(self, key: str, value: Value) -> None:
        return None

    def rename(self, name: str) -> None:
        return None

    def end(self, error: bool = False, attributes: Mapping[str, Value] | None = None) -> None:
        return None


NO_SPAN = _NoSpan()
_NO_HEADERS: Mapping[str, str] = {}


class _NoTracing:
    __slots__ = ()
    enabled = False

    def operation(self, headers: Sequence[tuple[bytes, bytes]] = ()) -> ActiveSpan:
        return NO_SPAN

    def call(self, system: str, resource: str, keys: int) -> tuple[Span, Mapping[str, str]]:
        return NO_SPAN, _NO_HEADERS

    def ingest(self, system: str) -> ActiveSpan:
        return NO_SPAN

    def within(self, traceparent: str) -> ActiveSpan:
        return NO_SPAN

    def delivery(self, traceparent: str, started_ns: int) -> ActiveSpan:
        return NO_SPAN

    def shutdown(self) -> None:
        return None


NO_TRACING: Tracing = _NoTracing()


class TracingUnavailable(ConfigError):
    """Tracing is configured but the `[otel]` extra is not installed."""


def tracing_for(
    endpoint: str | None,
    service_name: str,
    from_environment: bool,
    sample_ratio: float = 1.0,
    *,
    sampler_from_environment: bool = False,
) -> Tracing:
    """The gateway's tracing: OTLP/HTTP to `endpoint` ([telemetry] otlp_endpoint) or, with
    `from_environment`, to where the standard OTEL_EXPORTER_OTLP_* variables say; else none. A
    configured endpoint without the extra installed is an error (said at start-up, with the
    fix); the environment variable alone, which a platform may set for every pod, a warning."""
    if not endpoint and not from_environment:
        return NO_TRACING
    try:
        from gateway.observability.otel import OtelTracing
    except ImportError:
        if endpoint:
            raise TracingUnavailable(
                "[telemetry] otlp_endpoint is set but OpenTelemetry is not installed: "
                "pip install 'switchboard[otel]'"
            ) from None
        log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed "
            "(pip install 'switchboard[otel]'): tracing is off"
        )
        return NO_TRACING
    return OtelTracing.exporting(
        endpoint or None, service_name, sample_ratio, sampler_from_environment
    )
