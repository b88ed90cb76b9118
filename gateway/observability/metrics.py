"""The gateway's Prometheus metrics (prometheus-client), served at GET /metrics.

A registry per application, so two gateways in one process (tests) do not share counters.
Labels come from fixed sets only (execution mode, fallback reason): nothing a caller writes,
such as an operation name, becomes a label.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from resolvers.discrepancies import FIELDS as DISCREPANCY_FIELDS

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.operations = Counter(
            "switchboard_operations",
            "GraphQL operations executed, by execution mode; for standard execution, why "
            "(configured, or the reason the compiler could not plan it)",
            ["execution", "reason"],
            registry=self.registry,
        )
        self.projection_seconds = Counter(
            "switchboard_projection_seconds",
            "CPU time compiled execution spent projecting records into responses",
            registry=self.registry,
        )
        self.projected_fields = Counter(
            "switchboard_projected_fields",
            "Response fields written by compiled execution",
            registry=self.registry,
        )
        self.plans = Counter(
            "switchboard_plans_compiled",
            "Execution plans compiled (cache misses)",
            registry=self.registry,
        )
        self.plan_seconds = Counter(
            "switchboard_plan_compile_seconds",
            "Time spent compiling execution plans",
            registry=self.registry,
        )
        self.webhooks = Counter(
            "switchboard_webhooks",
            "Webhook deliveries by system (ccaas, crm, core) and outcome (accepted, duplicate, "
            "ignored: a type not used, refused); refused ones by reason (too_large, timeout, "
            "signature_missing/malformed/stale/mismatch, bad_json, bad_shape)",
            ["system", "outcome", "reason"],
            registry=self.registry,
        )
        self._compiled = self.operations.labels("compiled", "")
        self._standard: dict[str, Counter] = {}
        self._init_reconciliation()

    def operation(self, execution: str, reason: str = "") -> None:
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

    def webhook(self, system: str, outcome: str, reason: str = "") -> None:
        """Labels come from gateway/events/ingest.py's fixed sets, and `system` only from the
        configured ones: a path a caller invents is answered 404 and never becomes a label."""
        self.webhooks.labels(system, outcome, reason).inc()

    def webhook_count(self, system: str, outcome: str, reason: str = "") -> float:
        value: float = self.webhooks.labels(system, outcome, reason)._value.get()
        return value

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

    def render(self) -> bytes:
        return generate_latest(self.registry)
