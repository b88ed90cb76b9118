"""The gateway's own OTLP/HTTP encoding and export (gateway/observability/tracing_otlp.py): what
it sends decodes, with opentelemetry-proto's generated classes, to exactly what the SDK's
encoder makes of the same spans, and it reaches a collector over a real socket through the SDK
exporter's HTTP client."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from starlette.types import Receive, Scope, Send

from gateway.config import build_config
from gateway.demo import demo_config
from gateway.observability.otel import SCOPE, OtelTracing, _readable
from gateway.observability.tracing_otlp import (
    BATCH,
    CLIENT,
    CONSUMER,
    SERVER,
    Finished,
    OtlpExport,
    encode,
)
from sources.sandbox.server import background_server

T = 0x4BF92F3577B34DA6A3CE929D0E0E4736
NOW = 1_765_000_000_123_456_789


def _spans() -> list[Finished]:
    operation = Finished("query IvrIdentify", SERVER, T, 0x1111, 0x00F067AA0BA902B7, True, NOW)
    operation.end, operation.error = NOW + 5_000_000, True
    operation.attributes = {"graphql.operation.type": "query", "switchboard.result": "error"}
    call = Finished("crm GET /customers", CLIENT, T, 0x2222, 0x1111, False, NOW + 10)
    call.end = NOW + 4_000_000
    call.attributes = {
        "switchboard.system": "crm",
        "switchboard.keys": 3,
        "switchboard.retries": 0,
        "big": 2**40,
        "negative": -1,
        "flag": True,
        "other": False,
        "unicode": "caf\u00e9 \u2603",
    }
    delivery = Finished(
        "event.delivery", CONSUMER, T + 1, 0x3333, 0, False, NOW, links=((T, 0x4444),)
    )
    delivery.end = NOW + 1
    return [operation, call, delivery]


def test_the_encoding_is_what_the_sdk_encodes() -> None:
    resource = Resource.create({"service.name": "switchboard-test"})
    attributes = {k: v for k, v in resource.attributes.items() if isinstance(v, str | int | bool)}
    spans = _spans()
    ours = ExportTraceServiceRequest.FromString(encode(spans, attributes, SCOPE))
    scope = InstrumentationScope(SCOPE)
    theirs = encode_spans([_readable(s, resource, scope) for s in spans])
    assert ours == theirs
    # and memoised attribute encodings stay right when met again (True is not 1)
    again = ExportTraceServiceRequest.FromString(encode(spans, attributes, SCOPE))
    assert again == theirs


class Capturing:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["path"] == "/v1/traces":
            self.bodies.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def test_spans_reach_the_collector_with_their_parents() -> None:
    collector = Capturing()
    with background_server(collector, lifespan="off") as url:
        tracing = OtelTracing.exporting(url, "switchboard-test")
        for _ in range(3):
            operation = tracing.operation()
            for _ in range(2):
                span, _ = tracing.call("core", "/risk", 1)
                span.end(attributes={"switchboard.status": "ok"})
            operation.end()
        tracing.shutdown()  # what was queued is exported before it returns
    spans: list[Any] = []
    for body in collector.bodies:
        request = ExportTraceServiceRequest.FromString(body)
        [resource_spans] = request.resource_spans
        names = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
        assert names["service.name"] == "switchboard-test"
        [scope_spans] = resource_spans.scope_spans
        assert scope_spans.scope.name == SCOPE
        spans += scope_spans.spans
    operations = {s.span_id: s for s in spans if s.name == "graphql.operation"}
    calls = [s for s in spans if s.name == "core GET /risk"]
    assert len(operations) == 3 and len(calls) == 6
    for call in calls:
        parent = operations[call.parent_span_id]
        assert call.trace_id == parent.trace_id
        assert parent.start_time_unix_nano <= call.start_time_unix_nano
        assert call.end_time_unix_nano <= parent.end_time_unix_nano


class Trickle:
    """A sender during whose sends spans keep ending (as they do under load)."""

    def __init__(self) -> None:
        self.export: OtlpExport | None = None
        self.sent: list[int] = []

    def send(self, body: bytes) -> bool:
        request = ExportTraceServiceRequest.FromString(body)
        self.sent.append(len(request.resource_spans[0].scope_spans[0].spans))
        if self.export is not None and len(self.sent) < 20:
            self.export(_spans()[1])
        return True

    def shutdown(self) -> None:
        return None


def test_a_full_batch_is_one_request_and_the_rest_waits() -> None:
    """Spans ending while a batch is sent wait for the next full batch, the interval or the
    shutdown: not one request each (each POST costs ~0.6 ms of CPU; a request per span or two
    made the exporter's thread cost 6x the spans themselves)."""
    sender = Trickle()
    export = OtlpExport(sender, {"service.name": "t"}, SCOPE)
    sender.export = export
    for _ in range(BATCH):
        export(_spans()[1])
    for _ in range(200):  # until the full batch has been sent
        if sender.sent:
            break
        time.sleep(0.01)
    export.shutdown()
    assert sender.sent[0] == BATCH
    assert len(sender.sent) <= 3 and sum(sender.sent) == BATCH + len(sender.sent) - 1


def test_a_forked_process_exports_its_own_spans() -> None:
    """A process forked after the exporter started has no exporter thread; it starts its own
    (as the SDK's BatchSpanProcessor does), so its spans are not silently dropped."""
    sender = Trickle()
    export = OtlpExport(sender, {"service.name": "t"}, SCOPE)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one span, then shutdown exports it
        try:
            export(_spans()[1])
            export.shutdown()
            os.write(write, str(sum(sender.sent)).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 16) == b"1"
    os.close(read)
    export.shutdown()
    assert sender.sent == []  # the parent sent nothing: the child's span was the child's


def test_the_standard_sampler_variable_decides_for_roots(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_TRACES_SAMPLER, read as the SDK reads it, decides whether a trace is recorded; its
    calls follow (and still carry the trace on, flags 00)."""
    exporter = InMemorySpanExporter()
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    env = {"OTEL_TRACES_SAMPLER": "always_off"}
    assert build_config(demo_config(0, 9), env=env).telemetry.otel_sampler
    tracing = OtelTracing.into(exporter, sampler_from_environment=True)
    operation = tracing.operation()
    span, headers = tracing.call("crm", "/customers", 1)
    span.end()
    operation.end()
    assert exporter.get_finished_spans() == ()
    assert headers["traceparent"].endswith("-00")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    tracing = OtelTracing.into(exporter, sampler_from_environment=True)
    tracing.operation().end()
    assert len(exporter.get_finished_spans()) == 1
