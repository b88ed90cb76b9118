"""Metrics and traces, wired to what they watch: one `Telemetry` per application.

- back-end calls: `SourceCalls` implements the sources' hook (`sources.transport.observe`), so
  the sources layer never imports the gateway; with tracing off a call costs a dict lookup,
  one histogram observation and one increment, and no span work at all;
- HTTP operations: `extension()` notes the operation's type and, for a trusted document only,
  its name (gateway/observability/operation.py); the view times and closes it;
- what is read at scrape time: breakers, bulkheads, subscriptions, the audit queue (and the
  write-back outbox, when its owner calls `Metrics.watch_outbox`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import ClassVar

from graphql import DocumentNode, OperationDefinitionNode
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from gateway.limits.trusted import TrustedDocuments
from gateway.observability.metrics import OTHER, Metrics, _CallMetrics
from gateway.observability.operation import OperationRecord, current_operation
from gateway.observability.tracing import NO_TRACING, Span, Tracing
from sources import Sources
from sources.transport import Call

__all__ = ["SourceCalls", "Telemetry", "operation_names"]

_NO_HEADERS: Mapping[str, str] = {}
_FINE = frozenset({"ok", "stale"})


class _Counted:
    """A call measured for the metrics only (tracing off)."""

    __slots__ = ("_metrics", "_started")
    headers = _NO_HEADERS

    def __init__(self, metrics: _CallMetrics) -> None:
        self._metrics = metrics
        self._started = time.monotonic()

    def ended(self, status: str, retries: int, breaker: str) -> None:
        self._metrics.ended(status, retries, time.monotonic() - self._started)


class _Traced(_Counted):
    __slots__ = ("_span", "headers")

    def __init__(self, metrics: _CallMetrics, span: Span, headers: Mapping[str, str]) -> None:
        super().__init__(metrics)
        self._span = span
        self.headers = headers

    def ended(self, status: str, retries: int, breaker: str) -> None:
        super().ended(status, retries, breaker)
        self._span.end(
            error=status not in _FINE,
            attributes={
                "switchboard.status": status,
                "switchboard.retries": retries,
                "switchboard.breaker": breaker,
            },
        )


class SourceCalls:
    """The gateway's observer of back-end calls (sources.transport.observe.CallObserver)."""

    def __init__(self, metrics: Metrics, tracing: Tracing) -> None:
        self._metrics = metrics
        self._tracing = tracing if tracing.enabled else None

    def started(self, system: str, resource: str, keys: int) -> Call:
        counted = self._metrics.calls(system, resource)
        tracing = self._tracing
        if tracing is None:
            return _Counted(counted)
        span, headers = tracing.call(system, resource, keys)
        return _Traced(counted, span, headers)


def operation_names(trusted: TrustedDocuments | None) -> dict[int, frozenset[str]]:
    """{id(a trusted document's AST): its operations' names}: the documents live as long as the
    application, and the guardrails put the registered AST on the operation they serve."""
    if trusted is None:
        return {}
    return {
        id(doc.document): frozenset(
            d.name.value
            for d in doc.document.definitions
            if isinstance(d, OperationDefinitionNode) and d.name is not None
        )
        for doc in trusted.documents.values()
    }


class Telemetry:
    def __init__(
        self,
        metrics: Metrics | None = None,
        tracing: Tracing = NO_TRACING,
        trusted: TrustedDocuments | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.tracing = tracing
        self._names = operation_names(trusted)
        self.operation_names: frozenset[str] = frozenset().union(*self._names.values())
        """Every value the `operation` label may take, besides `other`."""

    def observe(self, sources: Sources) -> None:
        """Each system's calls counted (and traced), its breaker and bulkhead read at scrape."""
        sources.observe(SourceCalls(self.metrics, self.tracing))
        transports = sources.transports()
        self.metrics.watch_breakers(
            lambda: {name: t.breaker.state.value for name, t in transports.items()}
        )
        self.metrics.watch_bulkheads(
            lambda: {
                name: (t.bulkhead.waiting, t.bulkhead.in_flight) for name, t in transports.items()
            }
        )

    def note(self, ec: ExecutionContext) -> None:
        """After the operation: its type and trusted name on the request's record (after
        the guardrails, which put a registered document's AST on the operation). The
        extension's rule, and the direct road's (gateway/execution/direct.py)."""
        record = current_operation()
        if record is not None and ec.graphql_document is not None:
            _note(record, ec.graphql_document, ec, self._names)

    def extension(self) -> type[SchemaExtension]:
        telemetry = self

        class OperationTelemetry(SchemaExtension):
            """Notes the operation's type and trusted name (`Telemetry.note`)."""

            noted: ClassVar[Telemetry] = telemetry

            def on_operation(self) -> Iterator[None]:
                yield
                telemetry.note(self.execution_context)

        return OperationTelemetry

    def finish(self, record: OperationRecord, seconds: float) -> None:
        self.metrics.request(record.type, record.name, record.result, seconds)

    def shutdown(self) -> None:
        self.tracing.shutdown()


def _note(
    record: OperationRecord,
    document: DocumentNode,
    ec: ExecutionContext,
    names: Mapping[int, frozenset[str]],
) -> None:
    try:
        record.type = ec.operation_type.value
    except Exception:  # no such operation in the document (its error is the client's answer)
        return
    name = ec.operation_name
    record.name = name if name is not None and name in names.get(id(document), ()) else OTHER


UNWATCHED = Telemetry()
"""For a context built without the application's (unit tests): metrics nobody scrapes."""
