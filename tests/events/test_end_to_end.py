"""The sandbox's simulated call, end to end into the gateway: the sandbox signs Amazon Connect
shaped contact events (sources/sandbox/webhooks.py) and posts them to `POST /webhooks/ccaas`,
which verifies them (gateway/events/signatures.py, written apart from the signer), maps them
and publishes canonical events — producer and receiver of one contract held to each other."""

from __future__ import annotations

import asyncio
import time

from gateway.app import create_app
from gateway.config import build_config
from gateway.demo import demo_config
from gateway.events.broker import InProcessBroker
from sources.sandbox.client import end_call, sample_customers, start_call
from sources.sandbox.server import background_server
from tests.events.payloads import SECRET
from tests.support.canary import canary_sandbox


def _wait_for(broker: InProcessBroker, subject: str, wanted: list[str]) -> list[str]:
    """The canonical types published for `subject`, once they include every wanted one."""
    deadline = time.monotonic() + 15
    while True:
        seen = [d.event.type for d in broker.window() if d.event.subject == subject]
        if all(t in seen for t in wanted) or time.monotonic() > deadline:
            return seen
        time.sleep(0.05)


def test_a_simulated_call_arrives_signed_verified_and_in_canonical_form() -> None:
    raw = demo_config(0, 9)  # ingest calls no back-end: the sources are never asked
    raw["webhooks"] = {"ccaas": {"secrets": [SECRET]}}
    app = create_app(build_config(raw, env={}))
    broker: InProcessBroker = app.state.events
    with (
        background_server(app, lifespan="off") as gateway,
        canary_sandbox(
            customers=300, webhook_url=f"{gateway}/webhooks", webhook_secret=SECRET
        ) as sandbox,
    ):
        customer = asyncio.run(sample_customers(sandbox, 1))[0]["id"]
        call = asyncio.run(
            start_call(sandbox, customer, "agent-0001", idv="PASSED", ring_ms=0, idv_after_ms=0)
        )
        live = ["interaction.offered", "interaction.connected", "customer.verified"]
        assert _wait_for(broker, call, live) == live
        asyncio.run(end_call(sandbox, call))
        ended = [*live, "interaction.ended", "interaction.completed"]
        assert _wait_for(broker, call, ended) == ended
    connected = next(d.event for d in broker.window() if d.event.type == "interaction.connected")
    # ids and states only: the agent and the interaction, no customer data in the envelope
    assert connected.subject == call
    assert "agent-0001" in str(connected.data.get("agentId"))
