"""The metrics over real sockets: after driving the integration paths (a screen pop, a trusted
document, an operation whose caller-written name looks like a person, a failing system with
retries, signed and refused webhooks, a live SSE subscription and its frame), every metric
documented in docs/operations.md moved, and every label value of every sample is from a
declared set — never an id, a phone, a name."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.config import build_config
from gateway.demo import demo_config
from gateway.events.ingest import REFUSAL_REASONS
from gateway.http.admin import admin_app_of
from gateway.observability import metrics as m
from gateway.observability.gcpauses import GENERATIONS, PAUSES
from resolvers.discrepancies import FIELDS as DISCREPANCY_FIELDS
from sources import SYSTEMS
from sources.sandbox import create_app as sandbox_app
from sources.sandbox.client import sample_customers, set_fault, start_call
from sources.sandbox.server import background_server
from sources.transport import CALL_STATUSES
from tests.events.payloads import OTHER_SECRET, SECRET, case_change, signed
from tests.support.served import ServedGateway

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "docs" / "trusted-documents.json"
SCREEN_POP = """query ScreenPop($phone: String!) {
  findCustomers(phone: $phone) {
    id fullName accounts { id } cards { id last4 } interactions(first: 3) { id }
    cases { id } suggestedArticles(first: 2) { id }
  }
}"""
POP = "subscription { screenPops { event interaction { id } customers { id fullName } } }"


@dataclass(frozen=True)
class Served(ServedGateway):
    admin: str
    app: Starlette
    resources: frozenset[str]
    """Every path the sandbox serves: the only `resource` label values there can be."""

    def scrape(self) -> dict[str, list[tuple[str, dict[str, str], float]]]:
        """{family: [(sample name, labels, value)]} from GET /metrics on the internal port."""
        text = httpx.get(self.admin + "/metrics", timeout=10).text
        return {
            family.name: [(s.name, dict(s.labels), s.value) for s in family.samples]
            for family in text_string_to_metric_families(text)
        }


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    sandbox = sandbox_app(
        customers=300, webhook_url="http://127.0.0.1:9/webhooks", webhook_secret=SECRET
    )
    resources = frozenset(
        route.split(" ", 1)[1] for routes in sandbox.routes.values() for route in routes
    )
    with background_server(sandbox, lifespan="off", before_exit=sandbox.abort_hanging) as sb:
        raw = demo_config(0, int(sb.rsplit(":", 1)[1]), manifest=str(MANIFEST))
        raw["webhooks"] = {"ccaas": {"secrets": [SECRET]}, "crm": {"secrets": [SECRET]}}
        raw["rate_limit"] = {"enabled": False}
        raw["limits"] = {"data_budget": {"roles": {"supervisor": 1}}}  # one customer an hour
        app = create_app(build_config(raw, env={}))
        PAUSES.install()  # as `switchboard serve` does once started
        try:
            with (
                background_server(app, websockets=True) as gw,
                background_server(admin_app_of(app), lifespan="off") as admin,
            ):
                assert sandbox.poster is not None
                sandbox.poster.base = f"{gw}/webhooks"
                yield Served(gw, sb, admin, app, resources)
        finally:
            PAUSES.uninstall()


def _total(
    scraped: dict[str, list[tuple[str, dict[str, str], float]]], sample: str, **labels: str
) -> float:
    family = sample.removesuffix("_total").removesuffix("_count").removesuffix("_sum")
    return sum(
        value
        for name, got, value in scraped.get(family, [])
        if name == sample and all(got.get(k) == v for k, v in labels.items())
    )


def _drive(served: Served) -> tuple[list[str], dict[str, float]]:
    """Every integration path once; returns the customer data seen (names, phones, ids) and
    the gauges read while the SSE stream was open."""
    customers = asyncio.run(sample_customers(served.sandbox, 3))
    analyst = served.token("analyst-0001", ["fraud_analyst"])
    phone = customers[0]["phones"][0]
    found = served.post({"query": SCREEN_POP, "variables": {"phone": phone}}, analyst)
    names = [c["fullName"] for c in found["data"]["findCustomers"]]
    # a caller's operation name is free text: here, someone's name and phone
    named = re.sub(r"\W", "_", names[0])
    served.post(
        {"query": f'query {named}_{phone[1:]} {{ findCustomers(phone: "{phone}") {{ id }} }}'},
        analyst,
    )
    [ivr] = [
        o for o in json.loads(MANIFEST.read_text())["operations"] if o["name"] == "IvrIdentify"
    ]
    served.post(
        {
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": ivr["id"]}},
            "variables": {"phone": phone},
        },
        served.token("ivr-bot", ["ivr"]),
    )
    # a supervisor over the data budget: a limit alert
    supervisor = served.token("supervisor-0001", ["supervisor"])
    query = "query($ids: [ID!]!) { customers(ids: $ids) { id dateOfBirth } }"
    served.post({"query": query, "variables": {"ids": [c["id"] for c in customers]}}, supervisor)
    # a failing system: errors by code, retries
    asyncio.run(set_fault(served.sandbox, "core", mode="error"))
    try:
        served.post({"query": SCREEN_POP, "variables": {"phone": phone}}, analyst)
    finally:
        asyncio.run(set_fault(served.sandbox, "core", mode="ok"))
    # webhooks: one refused (a bad signature), one accepted and then sent again
    body, headers = signed(case_change(), secret=OTHER_SECRET)
    httpx.post(served.gateway + "/webhooks/crm", content=body, headers=headers)
    body, headers = signed(case_change())
    for _ in range(2):
        httpx.post(served.gateway + "/webhooks/crm", content=body, headers=headers)
    # a live subscription, and the frame a simulated call causes
    agent = served.token("agent-0001", ["agent"])

    async def subscribed() -> dict[str, float]:
        async with (
            httpx.AsyncClient(timeout=30) as http,
            http.stream(
                "POST",
                served.gateway + "/graphql/stream",
                json={"query": POP},
                headers={"authorization": f"Bearer {agent}", "accept": "text/event-stream"},
            ) as response,
        ):
            lines = response.aiter_lines()
            for _ in range(200):
                if served.app.state.events.subscribers:
                    break
                await asyncio.sleep(0.01)
            await start_call(served.sandbox, customers[2]["id"], "agent-0001", ring_ms=0)
            while not (await asyncio.wait_for(anext(lines), 15)).startswith("data:"):
                pass
            scraped = await asyncio.to_thread(served.scrape)
            return {
                "sse": _total(scraped, "switchboard_subscriptions_active", transport="sse"),
            }

    gauges = asyncio.run(subscribed())
    seen = [str(c[key]) for c in customers for key in ("id", "ssn", "dateOfBirth")]
    seen += [p for c in customers for p in (*c["phones"], *c["emails"], *c["accountNumbers"])]
    seen += [*names, *(part for n in names for part in n.split() if len(part) > 3)]
    return seen, gauges


def _unsupported_reasons() -> set[str]:
    """The compiler's fallback reasons: string literals of `Unsupported(...)`."""
    found: set[str] = set()
    for path in (ROOT / "gateway" / "execution").glob("*.py"):
        found.update(re.findall(r'Unsupported\(\s*"(\w+)"', path.read_text()))
    return found


@dataclass(frozen=True)
class Driven:
    seen: list[str]
    gauges: dict[str, float]
    scraped: dict[str, list[tuple[str, dict[str, str], float]]]
    types: dict[str, str]
    """{family: its TYPE}, families without samples included."""

    @property
    def exported(self) -> set[str]:
        """Every series name the gateway exports: its samples' names, and for a family with
        no sample yet (a labelled counter never incremented) the names it would have."""
        names = {name for samples in self.scraped.values() for name, _, _ in samples}
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
        for family, kind in self.types.items():
            names.update(family + suffix for suffix in suffixes.get(kind, ("",)))
        return names


@pytest.fixture(scope="module")
def driven(served: Served) -> Driven:
    seen, gauges = _drive(served)
    text = httpx.get(served.admin + "/metrics", timeout=10).text
    types = {f.name: f.type for f in text_string_to_metric_families(text)}
    return Driven(seen, gauges, served.scrape(), types)


def _names(expr: str) -> set[str]:
    return set(re.findall(r"\bswitchboard_[a-z0-9_]+\b", expr))


def test_metrics_move_and_every_label_is_from_a_fixed_set(served: Served, driven: Driven) -> None:
    seen, gauges, scraped = driven.seen, driven.gauges, driven.scraped
    declared: dict[str, set[str]] = {
        "system": set(SYSTEMS),
        "resource": set(served.resources),
        "status": set(CALL_STATUSES),
        "code": set(m.ERROR_CODES.values()),
        "execution": {"compiled", "standard"},
        "reason": {"", "configured", "no_source", *REFUSAL_REASONS, *m.DROP_REASONS}
        | _unsupported_reasons(),
        "outcome": {"accepted", "duplicate", "ignored", "refused", *m.EVENT_OUTCOMES},
        "type": {*m.OPERATION_TYPES, *m.LIMIT_ALERTS},
        "result": set(m.OPERATION_RESULTS),
        "operation": {m.OTHER} | served.app.state.telemetry.operation_names,
        "transport": set(m.TRANSPORTS),
        "state": set(m.CIRCUIT_STATES),
        "field": set(DISCREPANCY_FIELDS),
        "generation": set(GENERATIONS),
    }
    undeclared = []
    for family, samples in scraped.items():
        for name, labels, _ in samples:
            for label, value in labels.items():
                if label == "le":
                    continue  # a histogram's bucket bounds
                if value not in declared.get(label, set()):
                    undeclared.append((family, name, label, value))
                assert not any(pii and pii in value for pii in seen), (name, label)
    assert undeclared == []
    # and the metrics moved as docs/operations.md says
    assert _total(scraped, "switchboard_source_calls_total", system="crm", status="ok") >= 2
    assert _total(scraped, "switchboard_source_call_seconds_count", system="core") >= 2
    assert (
        _total(
            scraped,
            "switchboard_source_errors_total",
            system="core",
            code="SOURCE_UNAVAILABLE",
        )
        >= 1
    )
    assert _total(scraped, "switchboard_source_retries_total", system="core") >= 1
    assert _total(scraped, "switchboard_trusted_operations_total", operation="IvrIdentify") == 1
    assert _total(scraped, "switchboard_trusted_operations_total", operation="other") >= 3
    assert _total(scraped, "switchboard_request_seconds_count", type="query", result="ok") >= 3
    assert _total(scraped, "switchboard_request_seconds_count", result="partial") >= 1
    assert _total(scraped, "switchboard_webhooks_total", outcome="refused") == 1
    assert _total(scraped, "switchboard_webhooks_total", system="crm", outcome="duplicate") == 1
    assert _total(scraped, "switchboard_events_total", outcome="published") >= 2
    assert _total(scraped, "switchboard_event_delivery_seconds_count", transport="sse") >= 1
    assert gauges["sse"] == 1
    assert _total(scraped, "switchboard_subscriptions_active", transport="sse") == 0
    assert _total(scraped, "switchboard_circuit_state", system="crm", state="closed") == 1
    assert {labels["system"] for _, labels, _ in scraped["switchboard_bulkhead_queued"]} == set(
        SYSTEMS
    )
    assert _total(scraped, "switchboard_limit_alerts_total", type="data_budget_exceeded") == 1
    assert "switchboard_audit_queue_depth" in scraped
    assert _total(scraped, "switchboard_outbox_depth") == 0  # no write made here
    assert _total(scraped, "switchboard_outbox_oldest_age_seconds") == 0
    assert _total(scraped, "switchboard_outbox_unreadable") == 0
    assert _total(scraped, "switchboard_audit_queue_capacity") == 1024


def test_the_dashboard_queries_only_metrics_the_gateway_exports(driven: Driven) -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "switchboard.json").read_text())
    assert dashboard["uid"] == "switchboard" and dashboard["panels"]
    exprs = [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel["targets"]
        if panel["title"] and panel["type"] in ("timeseries", "stat", "gauge")
    ]
    exprs += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    used = set().union(*(_names(e) for e in exprs))
    assert used and used <= driven.exported, sorted(used - driven.exported)
    # and each panel has a query, each query its balanced parentheses
    assert all(panel["targets"] for panel in dashboard["panels"])
    assert all(e.count("(") == e.count(")") for e in exprs)


def test_the_alert_rules_use_only_metrics_the_gateway_exports(driven: Driven) -> None:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "switchboard-alerts.yaml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {"SwitchboardCircuitOpen", "SwitchboardOutboxStale", "SwitchboardAuditQueueFull"} <= {
        a["alert"] for a in alerts
    }
    used = set().union(*(_names(a["expr"]) for a in alerts))
    assert used <= driven.exported, sorted(used - driven.exported)
    operations = (ROOT / "docs" / "operations.md").read_text()
    assert all(a["alert"] in operations for a in alerts)


def test_every_exported_metric_is_documented(driven: Driven) -> None:
    """docs/operations.md names every family the gateway exports (and none it does not)."""
    operations = (ROOT / "docs" / "operations.md").read_text()
    documented = set(re.findall(r"^\| `(switchboard_[a-z0-9_]+)`", operations, re.MULTILINE))
    exported = {
        f + "_total" if t == "counter" else f
        for f, t in driven.types.items()
        if not f.endswith("_created")  # prometheus-client's creation timestamps
    }
    assert documented == exported
