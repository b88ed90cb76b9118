"""Traces over real sockets (the sandbox and the gateway on 127.0.0.1), spans captured by the
SDK's in-memory exporter: a screen-pop's trace has one span per back-end batch under the
operation's span, each batch's `traceparent` reaches the system, a trusted document names its
span and a caller's operation name never does, and a webhook's ingest span is linked from the
delivery span of the frame it caused (through the CloudEvent's `traceparent`)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette

from bench.collector import NullCollector
from gateway.app import create_app
from gateway.config import build_config
from gateway.demo import demo_config
from gateway.observability.otel import OtelTracing
from gateway.settings_env import ConfigError
from sources import SYSTEMS
from sources.sandbox.client import reset_stats, sample_customers, start_call, stats
from sources.sandbox.server import background_server
from tests.events.payloads import SECRET
from tests.support.canary import WATCH, canary_app
from tests.support.served import ServedGateway

SCREEN_POP = """query ScreenPop($phone: String!) {
  findCustomers(phone: $phone) {
    id fullName accounts { id transactions(first: 3) { id } } cards { id last4 }
    interactions(first: 5) { id } cases { id } risk { fraudHold }
    suggestedArticles(first: 2) { id }
  }
}"""
MANIFEST = Path(__file__).resolve().parents[2] / "docs" / "trusted-documents.json"
POP = "subscription { screenPops { event interaction { id } customers { id fullName } } }"


@dataclass(frozen=True)
class Traced(ServedGateway):
    app: Starlette
    spans: InMemorySpanExporter


@pytest.fixture(scope="module")
def traced() -> Iterator[Traced]:
    # canary values (tests/support/canary.py): no span may carry one (the last test)
    sandbox = canary_app(
        customers=300, webhook_url="http://127.0.0.1:9/webhooks", webhook_secret=SECRET
    )
    exporter = InMemorySpanExporter()
    with background_server(sandbox, lifespan="off", before_exit=sandbox.abort_hanging) as sb:
        raw = demo_config(0, int(sb.rsplit(":", 1)[1]), manifest=str(MANIFEST))
        raw["webhooks"] = {"ccaas": {"secrets": [SECRET]}}
        raw["rate_limit"] = {"enabled": False}
        app = create_app(build_config(raw, env={}), tracing=OtelTracing.into(exporter))
        with background_server(app, websockets=True) as gw:
            assert sandbox.poster is not None
            sandbox.poster.base = f"{gw}/webhooks"
            yield Traced(gw, sb, app, exporter)


def _phone(traced: Traced) -> str:
    customer = asyncio.run(sample_customers(traced.sandbox, 5))[0]
    phone: str = customer["phones"][0]
    return phone


def _backend_calls(traced: Traced) -> tuple[int, list[str]]:
    counters = asyncio.run(stats(traced.sandbox))
    calls = sum(counters[s]["requests"] for s in SYSTEMS)
    parents = [tp for s in SYSTEMS for tp in counters[s]["traceparents"]]
    return calls, parents


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def test_a_screen_pop_has_one_span_per_backend_batch_under_the_operation(traced: Traced) -> None:
    phone = _phone(traced)
    token = traced.token("analyst-0001", ["fraud_analyst"])
    asyncio.run(reset_stats(traced.sandbox))
    traced.spans.clear()
    body = traced.post({"query": SCREEN_POP, "variables": {"phone": phone}}, token)
    assert "errors" not in body, body["errors"]
    spans = traced.spans.get_finished_spans()
    [operation] = [s for s in spans if s.kind is SpanKind.SERVER]
    calls = [s for s in spans if s.kind is SpanKind.CLIENT]
    made, traceparents = _backend_calls(traced)
    # one span per back-end call (a batch), each a child of the operation, none per field
    assert len(calls) == made >= 6
    assert len(spans) == made + 1
    assert operation.context is not None and operation.parent is None
    for call in calls:
        assert call.parent is not None and call.parent.span_id == operation.context.span_id
        assert call.context is not None
        assert call.context.trace_id == operation.context.trace_id
        attributes = dict(call.attributes or {})
        assert attributes["switchboard.system"] in SYSTEMS
        assert str(attributes["switchboard.resource"]).startswith("/")
        assert attributes["switchboard.status"] == "ok"
        assert attributes["switchboard.breaker"] == "closed"
        assert attributes["switchboard.retries"] == 0
        assert isinstance(attributes["switchboard.keys"], int)
    # the batched ones say how many keys they asked for
    assert any(dict(c.attributes or {})["switchboard.keys"] not in (0, None) for c in calls)
    # the trace context reached each system: the sandbox saw each call's own span
    trace_id = _hex(operation.context.trace_id, 32)
    sent = {f"00-{trace_id}-{_hex(c.context.span_id, 16)}" for c in calls if c.context}
    assert {tp.rsplit("-", 1)[0] for tp in traceparents} == sent  # (the flags: sampled)
    assert all(int(tp.rsplit("-", 1)[1], 16) & 1 for tp in traceparents)
    # a caller's operation name ("ScreenPop") is free text: never on the span
    assert operation.name == "query"
    attributes = dict(operation.attributes or {})
    assert "graphql.operation.name" not in attributes
    assert attributes["graphql.operation.type"] == "query"
    assert attributes["switchboard.execution"] in ("compiled", "standard")
    assert attributes["switchboard.result"] == "ok"
    assert phone not in json.dumps([dict(s.attributes or {}) for s in spans])


def _post_traced(traced: Traced, body: dict[str, Any], token: str, parent: str) -> None:
    response = httpx.post(
        traced.gateway + "/graphql",
        json=body,
        headers={"authorization": f"Bearer {token}", "traceparent": parent},
        timeout=30,
    )
    assert response.status_code == 200 and "errors" not in response.json(), response.text


CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def test_the_operation_continues_the_caller_s_trace(traced: Traced) -> None:
    """A caller's `traceparent` makes the operation span its child, in the caller's trace, and
    the back-end calls carry that trace on; a malformed one is ignored (a trace of our own)."""
    token = traced.token("analyst-0001", ["fraud_analyst"])
    body = {"query": SCREEN_POP, "variables": {"phone": _phone(traced)}}
    asyncio.run(reset_stats(traced.sandbox))
    traced.spans.clear()
    _post_traced(traced, body, token, f"00-{CALLER_TRACE}-{CALLER_SPAN}-01")
    spans = traced.spans.get_finished_spans()
    [operation] = [s for s in spans if s.kind is SpanKind.SERVER]
    assert operation.context is not None and operation.parent is not None
    assert _hex(operation.context.trace_id, 32) == CALLER_TRACE
    assert _hex(operation.parent.span_id, 16) == CALLER_SPAN and operation.parent.is_remote
    calls = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert calls and all(
        c.parent is not None and c.parent.span_id == operation.context.span_id for c in calls
    )
    _, traceparents = _backend_calls(traced)
    assert traceparents and all(tp.startswith(f"00-{CALLER_TRACE}-") for tp in traceparents)

    traced.spans.clear()
    for malformed in (
        f"00-{CALLER_TRACE.upper()}-{CALLER_SPAN}-01",
        f"00-{'0' * 32}-{CALLER_SPAN}-01",
        "x",
    ):
        _post_traced(traced, body, token, malformed)
    operations = [s for s in traced.spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert len(operations) == 3 and all(s.parent is None for s in operations)


def test_the_access_log_names_the_caller_s_trace(
    traced: Traced, caplog: pytest.LogCaptureFixture
) -> None:
    """The request's log lines carry the trace the operation continued: an operator finds a
    contact flow's request in the gateway's logs by the flow's own trace id."""
    token = traced.token("analyst-0001", ["fraud_analyst"])
    body = {"query": SCREEN_POP, "variables": {"phone": _phone(traced)}}
    with caplog.at_level(logging.INFO, logger="switchboard.access"):
        _post_traced(traced, body, token, f"00-{CALLER_TRACE}-{CALLER_SPAN}-01")
    lines = [getattr(r, "fields", {}) for r in caplog.records if r.name == "switchboard.access"]
    assert [f.get("traceId") for f in lines if f.get("route") == "/graphql"] == [CALLER_TRACE]


def test_a_caller_s_unsampled_trace_is_passed_on_and_not_recorded(traced: Traced) -> None:
    token = traced.token("analyst-0001", ["fraud_analyst"])
    body = {"query": SCREEN_POP, "variables": {"phone": _phone(traced)}}
    asyncio.run(reset_stats(traced.sandbox))
    traced.spans.clear()
    _post_traced(traced, body, token, f"00-{CALLER_TRACE}-{CALLER_SPAN}-00")
    assert traced.spans.get_finished_spans() == ()
    _, traceparents = _backend_calls(traced)
    assert traceparents and all(
        tp.startswith(f"00-{CALLER_TRACE}-") and tp.endswith("-00") for tp in traceparents
    )


def test_a_trusted_document_names_its_span(traced: Traced) -> None:
    token = traced.token("ivr-bot", ["ivr"])
    traced.spans.clear()
    [digest] = [
        o["id"]
        for o in json.loads(MANIFEST.read_text())["operations"]
        if o["name"] == "IvrIdentify"
    ]
    body = traced.post(
        {
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}},
            "variables": {"phone": _phone(traced)},
        },
        token,
    )
    assert "errors" not in body, body["errors"]
    [operation] = [s for s in traced.spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert operation.name == "query IvrIdentify"
    assert dict(operation.attributes or {})["graphql.operation.name"] == "IvrIdentify"


def test_a_webhook_s_ingest_is_linked_from_the_delivery_of_its_frame(traced: Traced) -> None:
    token = traced.token("agent-0001", ["agent"])

    async def scenario() -> dict[str, Any]:
        customer = (await sample_customers(traced.sandbox, 1))[0]["id"]
        async with (
            httpx.AsyncClient(timeout=30) as http,
            http.stream(
                "POST",
                traced.gateway + "/graphql/stream",
                json={"query": POP},
                headers={"authorization": f"Bearer {token}", "accept": "text/event-stream"},
            ) as response,
        ):
            lines = response.aiter_lines()
            for _ in range(200):  # subscribed once the broker counts it
                if traced.app.state.events.subscribers:
                    break
                await asyncio.sleep(0.01)
            await start_call(traced.sandbox, customer, "agent-0001", ring_ms=0, idv_after_ms=0)
            while True:
                line = await asyncio.wait_for(anext(lines), 15)
                if line.startswith("data:"):
                    frame: dict[str, Any] = json.loads(line.removeprefix("data:"))
                    return frame

    traced.spans.clear()
    frame = asyncio.run(scenario())
    assert frame["data"]["screenPops"]["event"] == "OFFERED"
    spans = traced.spans.get_finished_spans()
    ingests = {s.context.span_id: s for s in spans if s.name == "webhook.ingest" and s.context}
    deliveries = [s for s in spans if s.name == "event.delivery"]
    assert ingests and deliveries
    delivery = deliveries[0]
    [link] = delivery.links
    ingest = ingests[link.context.span_id]
    assert dict(ingest.attributes or {})["switchboard.outcome"] == "accepted"
    assert delivery.context is not None and ingest.context is not None
    # a trace of its own (one event fans out to many subscribers), linked to the ingest
    assert delivery.parent is None
    assert delivery.context.trace_id != ingest.context.trace_id
    # the reads the event caused (its contact, the customer) are in the webhook's trace
    calls = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert {dict(s.attributes or {})["switchboard.system"] for s in calls} >= {"ccaas", "crm"}
    assert all(s.parent is not None and s.parent.span_id in ingests for s in calls)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"otlp_endpoint": "collector:4318"}, "otlp_endpoint must be an http:// or https:// URL"),
        ({"sample_ratio": 0}, r"sample_ratio must be in \(0, 1\]"),
        ({"sample_ratio": 1.5}, r"sample_ratio must be in \(0, 1\]"),
    ],
)
def test_bad_telemetry_settings_are_refused_clearly(table: dict[str, Any], message: str) -> None:
    raw = demo_config(0, 9)
    raw["telemetry"] = table
    with pytest.raises(ConfigError, match=message):
        build_config(raw, env={})


def test_sampling_keeps_a_share_of_traces_and_still_propagates() -> None:
    """Below 1.0 a trace is recorded or not as a whole; an unrecorded call still sends its
    traceparent (flags 00), so the systems' traces stay joined."""
    collector = NullCollector()
    with background_server(collector, lifespan="off") as url:
        tracing = OtelTracing.exporting(url, "test", sample_ratio=0.25)
        kept = 0
        for _ in range(400):
            operation = tracing.operation()
            span, headers = tracing.call("crm", "/customers", 1)
            flags = int(headers["traceparent"].rsplit("-", 1)[1], 16)
            kept += flags & 1
            span.end()
            operation.end()
        tracing.shutdown()  # what was recorded is exported, over OTLP/HTTP
    assert 40 < kept < 160  # about a quarter of 400
    assert collector.requests >= 1 and collector.bytes > 0


def test_no_span_carries_a_customer_s_value(traced: Traced) -> None:
    """The PII canary on traces: after a supervisor's screen pop (every sensitive field
    shown), a webhook and a phone search, no span name, attribute or event holds a canary
    value (names, phones, PANs, SSNs, dates of birth, account numbers)."""
    phone = _phone(traced)
    token = traced.token("supervisor-0001", ["supervisor"])
    traced.spans.clear()
    body = traced.post({"query": SCREEN_POP, "variables": {"phone": phone}}, token)
    assert "errors" not in body, body["errors"]
    spans = traced.spans.get_finished_spans()
    assert spans
    WATCH.take_leaks()  # only what these spans hold is asked about here
    WATCH.check_spans(spans)
    assert not WATCH.take_leaks()
    # and the check would see one: a span carrying the phone as an attribute is caught
    leaky = SimpleNamespace(name="x", attributes={"phone": phone}, events=())
    WATCH.check_spans([leaky])
    assert WATCH.take_leaks()
