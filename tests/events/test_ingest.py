"""`POST /webhooks/{system}` over real sockets (a uvicorn server in a thread): signed vendor
events in, canonical events in the broker, everything else refused in the JSON envelope."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.config import build_config
from gateway.demo import demo_config
from gateway.events.broker import InProcessBroker
from gateway.observability.metrics import Metrics
from sources.sandbox.server import background_server
from tests.events.payloads import CONTACT, OTHER_SECRET, SECRET, case_change, connect, core, signed

MAX_BODY = 4096


@dataclass(frozen=True)
class Served:
    url: str
    app: Starlette

    @property
    def broker(self) -> InProcessBroker:
        broker: InProcessBroker = self.app.state.events
        return broker

    def count(self, system: str, outcome: str, reason: str = "") -> float:
        metrics: Metrics = self.app.state.metrics
        return metrics.webhook_count(system, outcome, reason)

    def post(self, system: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(f"{self.url}/webhooks/{system}", content=body, headers=headers)

    def types(self) -> list[str]:
        return [d.event.type for d in self.broker.window()]


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    raw = demo_config(0, 9)  # nothing is called: no sandbox needed
    raw["server"].update(getattr(request, "param", {}))
    raw["webhooks"] = {
        "ccaas": {"secrets": [OTHER_SECRET, SECRET], "max_body_bytes": MAX_BODY},
        "crm": {"secrets": [SECRET]},
        "core": {"secrets": [SECRET]},
    }
    app = create_app(build_config(raw, env={}))
    with background_server(app, lifespan="off") as url:
        yield Served(url, app)


def _error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert response.headers["content-type"] == "application/json"
    assert body["extensions"]["requestId"] == response.headers["x-request-id"]
    error: dict[str, Any] = body["errors"][0]
    return error


def test_a_valid_webhook_is_published_and_acknowledged(served: Served) -> None:
    response = served.post("ccaas", *signed(connect("CONTACT_DATA_UPDATED", idv="PASSED")))
    assert response.status_code == 204 and response.content == b""
    (delivery,) = served.broker.window()
    assert delivery.event.type == "customer.verified"
    assert delivery.event.subject == CONTACT
    assert served.count("ccaas", "accepted") == 1


@pytest.mark.parametrize(
    ("system", "payload", "canonical"),
    [
        ("crm", case_change("CREATE"), "case.created"),
        ("core", core("FRAUD_ALERT"), "fraud.alert_raised"),
    ],
)
def test_each_system_publishes_its_events(
    served: Served, system: str, payload: Any, canonical: str
) -> None:
    assert served.post(system, *signed(payload)).status_code == 204
    assert served.types() == [canonical]


def test_a_forged_signature_is_refused_and_nothing_published(served: Served) -> None:
    body, headers = signed(connect("INITIATED"), secret="whsec_" + "Rk9SR0VSRk9SR0VSRk9SR0VS")
    response = served.post("ccaas", body, headers)
    assert response.status_code == 401
    assert _error(response)["extensions"]["code"] == "UNAUTHENTICATED"
    assert served.types() == []
    assert served.count("ccaas", "refused", "signature_mismatch") == 1


def test_a_tampered_body_is_refused(served: Served) -> None:
    body, headers = signed(connect("INITIATED"))
    response = served.post("ccaas", body.replace(b"INITIATED", b"COMPLETED"), headers)
    assert response.status_code == 401 and served.types() == []


def test_missing_signature_headers_are_refused(served: Served) -> None:
    body, headers = signed(core())
    del headers["webhook-signature"]
    response = served.post("core", body, headers)
    assert response.status_code == 401 and served.types() == []
    assert served.count("core", "refused", "signature_missing") == 1


def test_a_stale_webhook_is_refused(served: Served) -> None:
    response = served.post("core", *signed(core(), timestamp=int(time.time()) - 301))
    assert response.status_code == 401 and served.types() == []
    assert served.count("core", "refused", "signature_stale") == 1


def test_a_replayed_webhook_is_acknowledged_but_processed_once(served: Served) -> None:
    body, headers = signed(core())
    assert served.post("core", body, headers).status_code == 204
    assert served.post("core", body, headers).status_code == 204
    assert served.types() == ["payment.posted"]
    assert served.count("core", "accepted") == 1
    assert served.count("core", "duplicate") == 1


def test_a_replayed_webhook_is_not_processed_again(served: Served) -> None:
    """The webhook-id dedupe on its own (an ignored type publishes nothing the broker could
    dedupe): the second delivery is acknowledged without being mapped again."""
    body, headers = signed(connect("QUEUED"))
    assert served.post("ccaas", body, headers).status_code == 204
    assert served.post("ccaas", body, headers).status_code == 204
    assert served.count("ccaas", "ignored") == 1
    assert served.count("ccaas", "duplicate") == 1


def test_the_same_vendor_event_under_a_new_webhook_id_is_published_once(served: Served) -> None:
    payload = core(event_id="evt-1")
    assert served.post("core", *signed(payload)).status_code == 204
    assert served.post("core", *signed(payload)).status_code == 204
    assert served.types() == ["payment.posted"]


def test_a_body_over_the_cap_is_413(served: Served) -> None:
    padded = {**connect("INITIATED"), "resources": ["x" * MAX_BODY]}
    response = served.post("ccaas", *signed(padded))
    assert response.status_code == 413
    assert _error(response)["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert served.types() == []


def test_a_declared_length_over_the_cap_is_413_before_the_body_is_read(served: Served) -> None:
    host, port = served.url.removeprefix("http://").split(":")
    _, headers = signed(core())
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (
        f"POST /webhooks/core HTTP/1.1\r\nhost: {host}\r\n{head}"
        f"content-length: {MAX_BODY * 100}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request.encode())  # and never the body
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert served.count("core", "refused", "too_large") == 1


@pytest.mark.parametrize("served", [{"body_timeout_seconds": 0.2}], indirect=True)
def test_a_body_that_does_not_arrive_is_408(served: Served) -> None:
    host, port = served.url.removeprefix("http://").split(":")
    body, headers = signed(core())
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (
        f"POST /webhooks/core HTTP/1.1\r\nhost: {host}\r\n{head}content-length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request.encode() + body[:10])  # and never the rest
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"REQUEST_TIMEOUT" in answer
    assert served.types() == []


def test_a_chunked_body_over_the_cap_is_413(served: Served) -> None:
    body, headers = signed({**connect("INITIATED"), "resources": ["x" * MAX_BODY]})

    def chunks() -> Iterator[bytes]:
        yield from (body[i : i + 1000] for i in range(0, len(body), 1000))

    response = httpx.post(f"{served.url}/webhooks/ccaas", content=chunks(), headers=headers)
    assert response.status_code == 413 and served.types() == []


def test_bad_json_is_400(served: Served) -> None:
    response = served.post("core", *signed(b"{not json"))
    assert response.status_code == 400
    assert _error(response)["extensions"]["code"] == "BAD_REQUEST"
    assert served.count("core", "refused", "bad_json") == 1


def test_a_payload_of_the_wrong_shape_is_400_naming_the_field(served: Served) -> None:
    payload = core()
    del payload["partyId"]
    response = served.post("core", *signed(payload))
    assert response.status_code == 400
    assert "partyId" in _error(response)["message"]
    assert served.types() == []


def test_an_unknown_type_is_acknowledged_counted_and_ignored(served: Served) -> None:
    response = served.post("ccaas", *signed(connect("QUEUED")))
    assert response.status_code == 204
    assert served.types() == []
    assert served.count("ccaas", "ignored") == 1


def test_a_system_without_secrets_or_unknown_has_no_endpoint(served: Served) -> None:
    for system in ("knowledge", "nope"):
        response = served.post(system, *signed(core()))
        assert response.status_code == 404
        assert _error(response)["extensions"]["code"] == "NOT_FOUND"


def test_webhooks_need_no_bearer_token_and_only_post(served: Served) -> None:
    response = httpx.get(f"{served.url}/webhooks/core")
    assert response.status_code == 405
    assert _error(response)["extensions"]["code"] == "METHOD_NOT_ALLOWED"


def test_the_refusal_names_no_secret_or_body(served: Served) -> None:
    body, headers = signed(core(), secret=OTHER_SECRET)
    response = served.post("core", body, headers)
    assert response.status_code == 401
    text = response.text
    assert OTHER_SECRET not in text and "P-0000123" not in text
    assert headers["webhook-signature"] not in text
    assert orjson.loads(text)["errors"][0]["message"].startswith("the webhook signature")
