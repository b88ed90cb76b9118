"""The gateway's Prometheus metrics (prometheus-client), served at GET /metrics on the internal
port. Each is described in docs/operations.md (name, type, labels, meaning, alerts).

A registry per application, so two gateways in one process (tests) do not share counters.
Labels come from fixed sets only, never from what a caller writes: systems and resources (the
configured systems, their fixed paths), statuses and outcomes (the code's own tuples), and an
operation's name only when it is a trusted document's (the manifest's names; anything else is
`other`). tests/gateway/test_metric_labels.py drives the integration paths and checks every
label value against `label_sets()`.

What is only known at scrape time (breaker states, bulkhead queues, open subscriptions, the
audit queue, the write-back outbox) is read then, through `watch_*` callbacks: nothing on the
hot path keeps those gauges up to date.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from gateway.observability.gcpauses import GcPauseCollector
from gateway.observability.operation import current_operation
from resolvers.discrepancies import FIELDS as DISCREPANCY_FIELDS

__all__ = [
    "CIRCUIT_STATES",
    "CONTENT_TYPE_LATEST",
    "OPERATION_RESULTS",
    "OPERATION_TYPES",
    "OTHER",
    "TRANSPORTS",
    "Metrics",
]

OTHER = "other"
"""The operation label of anything that is not a trusted document."""
OPERATION_TYPES = ("query", "mutation", "subscription", "unknown")
OPERATION_RESULTS = ("ok", "partial", "error")
"""ok: data and no error; partial: data and errors; error: no data (refused or failed)."""
CIRCUIT_STATES = ("closed", "open", "half_open")
TRANSPORTS = ("websocket", "sse")
EVENT_OUTCOMES = ("published", "deduplicated")
DROP_REASONS = ("overflow",)
LIMIT_ALERTS = ("data_budget_exceeded", "lookup_limit_exceeded")
"""gateway/limits/admission.py's alert types (each also an audit line)."""

_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_EVENTS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.operations = Counter(
            "switchboard_operations",
            "GraphQL operations executed, by execution mode; for standard execution, why "
            "(configured, or the reason the compiler could not plan it)",
            ["execution", "reason"],
            registry=r,
        )
        self.projection_seconds = Counter(
            "switchboard_projection_seconds",
            "CPU time compiled execution spent projecting records into responses (asking the "
            "loaders for the next level included)",
            registry=r,
        )
        self.projected_fields = Counter(
            "switchboard_projected_fields",
            "Response fields written by compiled execution",
            registry=r,
        )
        self.plans = Counter(
            "switchboard_plans_compiled", "Execution plans compiled (cache misses)", registry=r
        )
        self.plan_seconds = Counter(
            "switchboard_plan_compile_seconds", "Time spent compiling execution plans", registry=r
        )
        self.webhooks = Counter(
            "switchboard_webhooks",
            "Webhook deliveries by system (ccaas, crm, core) and outcome (accepted, duplicate, "
            "ignored: a type not used, refused); refused ones by reason (too_large, timeout, "
            "signature_missing/malformed/stale/mismatch, bad_json, bad_shape)",
            ["system", "outcome", "reason"],
            registry=r,
        )
        # HTTP operations
        self.requests = Histogram(
            "switchboard_request_seconds",
            "GraphQL operations over HTTP, from the request to the answer, by type and result",
            ["type", "result"],
            buckets=_FAST,
            registry=r,
        )
        self.trusted = Counter(
            "switchboard_trusted_operations",
            "Operations by name (a trusted document's; `other` for anything else) and result",
            ["operation", "result"],
            registry=r,
        )
        # back-end calls (RED per system and resource)
        self.source_calls = Counter(
            "switchboard_source_calls",
            "Back-end calls (a batch, its retries included) by system, resource and status",
            ["system", "resource", "status"],
            registry=r,
        )
        self.source_errors = Counter(
            "switchboard_source_errors",
            "Back-end calls that failed, by the code a client sees (SOURCE_TIMEOUT, ...)",
            ["system", "resource", "code"],
            registry=r,
        )
        self.source_seconds = Histogram(
            "switchboard_source_call_seconds",
            "Back-end call latency, retries and queueing in the bulkhead included",
            ["system", "resource"],
            buckets=_FAST,
            registry=r,
        )
        self.source_retries = Counter(
            "switchboard_source_retries",
            "Retries made (beyond each call's first attempt)",
            ["system", "resource"],
            registry=r,
        )
        # events
        self.events = Counter(
            "switchboard_events",
            "Canonical events from webhooks: published to the broker, or deduplicated (seen)",
            ["system", "outcome"],
            registry=r,
        )
        self.events_dropped = Counter(
            "switchboard_events_dropped",
            "Subscriptions cut off because they fell behind (EVENTS_DROPPED sent), by reason",
            ["reason"],
            registry=r,
        )
        self.delivery_seconds = Histogram(
            "switchboard_event_delivery_seconds",
            "From the webhook's arrival (at any replica) to the subscriber's frame written, "
            "by transport",
            ["transport"],
            buckets=_EVENTS,
            registry=r,
        )
        self.limit_alerts = Counter(
            "switchboard_limit_alerts",
            "A subject went over a per-subject limit in its window (the first time per window; "
            "each is also an audit line): data_budget_exceeded, lookup_limit_exceeded",
            ["type"],
            registry=r,
        )
        self._compiled = self.operations.labels("compiled", "")
        self._standard: dict[str, Any] = {}
        self._calls: dict[tuple[str, str], _CallMetrics] = {}
        self._watched = _Watched()
        r.register(self._watched)
        r.register(GcPauseCollector())  # the process's collector pauses, once serving
        self._init_reconciliation()

    # --- execution ---------------------------------------------------------------------

    def operation(self, execution: str, reason: str = "") -> None:
        record = current_operation()
        if record is not None:
            record.execution = execution
        if execution == "compiled":
            self._compiled.inc()
            return
        child = self._standard.get(reason)
        if child is None:
            child = self._standard[reason] = self.operations.labels("standard", reason)
        child.inc()

    def projected(self, seconds: float, fields: int) -> None:
        self.projection_seconds.inc(seconds)
        self.projected_fields.inc(fields)

    def plan_compiled(self, seconds: float) -> None:
        self.plans.inc()
        self.plan_seconds.inc(seconds)

    def request(self, type: str, name: str, result: str, seconds: float) -> None:
        """One HTTP operation answered (`name`: a trusted document's, or OTHER)."""
        self.requests.labels(type, result).observe(seconds)
        self.trusted.labels(name, result).inc()

    def limit_alert(self, type: str) -> None:
        self.limit_alerts.labels(type).inc()

    # --- back-end calls ----------------------------------------------------------------

    def calls(self, system: str, resource: str) -> _CallMetrics:
        """The children for one (system, resource), made once: a call's bookkeeping is a dict
        lookup, an observation and an increment."""
        key = (system, resource)
        found = self._calls.get(key)
        if found is None:
            found = self._calls[key] = _CallMetrics(self, system, resource)
        return found

    # --- events ------------------------------------------------------------------------

    def webhook(self, system: str, outcome: str, reason: str = "") -> None:
        """Labels come from gateway/events/ingest.py's fixed sets, and `system` only from the
        configured ones: a path a caller invents is answered 404 and never becomes a label."""
        self.webhooks.labels(system, outcome, reason).inc()

    def webhook_count(self, system: str, outcome: str, reason: str = "") -> float:
        value: float = self.webhooks.labels(system, outcome, reason)._value.get()
        return value

    def event(self, system: str, outcome: str) -> None:
        self.events.labels(system, outcome).inc()

    def dropped(self, reason: str) -> None:
        self.events_dropped.labels(reason).inc()

    def delivered(self, transport: str, received: float) -> None:
        """A frame written; `received` the webhook's arrival (time.time(), 0: unknown)."""
        if received > 0:
            self.delivery_seconds.labels(transport).observe(max(time.time() - received, 0.0))

    # -- reconciliation (issue #19, helper "drift"): Customer.discrepancies -----------------

    def _init_reconciliation(self) -> None:
        self.discrepancies = Counter(
            "switchboard_discrepancies",
            "Discrepancies found between the CRM and the core at read time, by field (NAME, "
            "DATE_OF_BIRTH, PHONE, EMAIL, ADDRESS); each customer's counted once per request",
            ["field"],
            registry=self.registry,
        )
        self._discrepancy_fields = {f: self.discrepancies.labels(f) for f in DISCREPANCY_FIELDS}

    def discrepancy(self, field: str) -> None:
        """Fixed labels only: a field outside resolvers.discrepancies.FIELDS is not counted."""
        child = self._discrepancy_fields.get(field)
        if child is not None:
            child.inc()

    # -- end of reconciliation -----------------------------------------------------------------

    # --- read at scrape time -----------------------------------------------------------

    def watch_breakers(self, states: Callable[[], Mapping[str, str]]) -> None:
        """{system: circuit state} (sources' CircuitState values)."""
        self._watched.breakers = states

    def watch_bulkheads(self, queued: Callable[[], Mapping[str, tuple[int, int]]]) -> None:
        """{system: (calls waiting for a slot, calls in flight)}."""
        self._watched.bulkheads = queued

    def watch_subscriptions(self, open_: Callable[[], Mapping[str, int]]) -> None:
        """{transport: open subscriptions on this replica}."""
        self._watched.subscriptions = open_

    def watch_audit(self, pending: Callable[[], tuple[int, int]]) -> None:
        """(requests' audit lines pending, the queue's capacity)."""
        self._watched.audit = pending

    def watch_outbox(
        self,
        depth: Callable[[], Awaitable[int]],
        oldest: Callable[[], Awaitable[float | None]],
        unreadable: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        """The write-back outbox (gateway/writes/): writes still PENDING, when the oldest of
        them was reserved (time.time(); None when there is none), and how many were set aside
        because their record could not be read. All are reads of the outbox's store, so they
        are awaited by `refresh`, before each scrape."""
        self._watched.outbox = (depth, oldest)
        self._watched.unreadable = unreadable

    async def refresh(self) -> None:
        """Read what needs I/O (the outbox), within a second; NaN when it cannot be read."""
        watched = self._watched
        if watched.outbox is None:
            return
        depth, oldest = watched.outbox
        try:
            async with asyncio.timeout(1.0):
                pending = float(await depth())
                since = await oldest()
                aside = math.nan if watched.unreadable is None else await watched.unreadable()
        except Exception:  # the store is unreachable: the gauges say "unknown", not 0
            watched.outbox_values = (math.nan, math.nan)
            watched.unreadable_value = math.nan
            return
        age = 0.0 if since is None else max(time.time() - since, 0.0)
        watched.outbox_values = (pending, age)
        watched.unreadable_value = float(aside)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _CallMetrics:
    __slots__ = ("_errors", "_metrics", "_resource", "_retries", "_seconds", "_status", "_system")

    def __init__(self, metrics: Metrics, system: str, resource: str) -> None:
        self._metrics = metrics
        self._system = system
        self._resource = resource
        self._seconds = metrics.source_seconds.labels(system, resource)
        self._retries = metrics.source_retries.labels(system, resource)
        self._status: dict[str, Any] = {}
        self._errors: dict[str, Any] = {}

    def ended(self, status: str, retries: int, seconds: float) -> None:
        self._seconds.observe(seconds)
        if retries:
            self._retries.inc(retries)
        child = self._status.get(status)
        if child is None:
            child = self._status[status] = self._metrics.source_calls.labels(
                self._system, self._resource, status
            )
        child.inc()
        code = ERROR_CODES.get(status)
        if code is not None:
            error = self._errors.get(code)
            if error is None:
                error = self._errors[code] = self._metrics.source_errors.labels(
                    self._system, self._resource, code
                )
            error.inc()


ERROR_CODES = {
    "timeout": "SOURCE_TIMEOUT",
    "unavailable": "SOURCE_UNAVAILABLE",
    "bad_response": "SOURCE_BAD_RESPONSE",
    "rate_limited": "RATE_LIMITED",
    "circuit_open": "CIRCUIT_OPEN",
    "overloaded": "SOURCE_OVERLOADED",
    "error": "SOURCE_ERROR",
}
"""A failed call's status -> the client-facing code (sources/_errors.py). `stale` answered (from
stale-if-error) and `cancelled` said nothing about the system: not errors."""


class _Watched(Collector):
    """The gauges read at scrape time; a callback not set is a gauge not exported."""

    def __init__(self) -> None:
        self.breakers: Callable[[], Mapping[str, str]] | None = None
        self.bulkheads: Callable[[], Mapping[str, tuple[int, int]]] | None = None
        self.subscriptions: Callable[[], Mapping[str, int]] | None = None
        self.audit: Callable[[], tuple[int, int]] | None = None
        self.outbox: (
            tuple[Callable[[], Awaitable[int]], Callable[[], Awaitable[float | None]]] | None
        ) = None
        self.outbox_values = (math.nan, math.nan)
        self.unreadable: Callable[[], Awaitable[int]] | None = None
        self.unreadable_value = math.nan

    def describe(self) -> Iterable[Any]:
        return []  # collected at every scrape, never described ahead (the callbacks come later)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.breakers is not None:
            family = GaugeMetricFamily(
                "switchboard_circuit_state",
                "1 for each system's current circuit state (closed, open, half_open), else 0",
                labels=["system", "state"],
            )
            for system, current in sorted(self.breakers().items()):
                for state in CIRCUIT_STATES:
                    family.add_metric([system, state], 1.0 if state == current else 0.0)
            yield family
        if self.bulkheads is not None:
            waiting = GaugeMetricFamily(
                "switchboard_bulkhead_queued",
                "Calls waiting for a free slot in the system's bulkhead",
                labels=["system"],
            )
            busy = GaugeMetricFamily(
                "switchboard_bulkhead_in_flight",
                "Calls in flight to the system (at most its max_in_flight)",
                labels=["system"],
            )
            for system, (queued, in_flight) in sorted(self.bulkheads().items()):
                waiting.add_metric([system], float(queued))
                busy.add_metric([system], float(in_flight))
            yield waiting
            yield busy
        if self.subscriptions is not None:
            family = GaugeMetricFamily(
                "switchboard_subscriptions_active",
                "Subscriptions open on this replica, by transport (websocket, sse)",
                labels=["transport"],
            )
            counts = self.subscriptions()
            for transport in TRANSPORTS:
                family.add_metric([transport], float(counts.get(transport, 0)))
            yield family
        if self.audit is not None:
            pending, capacity = self.audit()
            yield GaugeMetricFamily(
                "switchboard_audit_queue_depth",
                "Requests whose audit lines are reserved, queued or being written",
                value=float(pending),
            )
            yield GaugeMetricFamily(
                "switchboard_audit_queue_capacity",
                "The audit queue's capacity: at it, requests that read sensitive data are refused",
                value=float(capacity),
            )
        if self.outbox is not None:
            depth, age = self.outbox_values
            yield GaugeMetricFamily(
                "switchboard_outbox_depth",
                "Writes to the CRM still PENDING in the outbox (NaN: the store is unreachable)",
                value=depth,
            )
            yield GaugeMetricFamily(
                "switchboard_outbox_oldest_age_seconds",
                "Age of the oldest PENDING write (0 when none; NaN: the store is unreachable)",
                value=age,
            )
        if self.outbox is not None and self.unreadable is not None:
            yield GaugeMetricFamily(
                "switchboard_outbox_unreadable",
                "Writes set aside because their outbox record could not be read, kept "
                "retention_hours (listed by `switchboard writes dead-letters`; NaN: the store "
                "is unreachable)",
                value=self.unreadable_value,
            )
