"""Simulated calls over real sockets: the CCaaS contact moves through its states and the sandbox
posts signed Amazon Connect events, each after the state it announces is visible in the API."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sources.sandbox import running
from sources.sandbox.client import end_call, start_call

from .receiver import SECRET, Receiver, receiving, signature_valid

AGENT = "agent-0007"
ARN = "arn:aws:connect:us-east-1:000000000000:instance/sandbox/agent/agent-0007"
LONG = 600_000  # a step that will not happen during the test: the state before it is stable


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with receiving() as found:
        yield found


@pytest.fixture(scope="module")
def sandbox(receiver: Receiver) -> Iterator[str]:
    with running(customers=100, webhook_url=receiver.url, webhook_secret=SECRET) as url:
        receiver.sandbox_url = url
        yield url


@pytest.fixture(scope="module")
def customer(sandbox: str) -> str:
    customer_id: str = httpx.get(f"{sandbox}/_sandbox/sample?n=1").json()["customers"][0]["id"]
    return customer_id


def _call(sandbox: str, customer: str, **more: Any) -> str:
    body = {"customerId": customer, "agentId": AGENT, **more}
    response = httpx.post(f"{sandbox}/_sandbox/calls", json=body)
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"interactionId"}
    interaction_id: str = response.json()["interactionId"]
    return interaction_id


def _end(sandbox: str, interaction_id: str) -> httpx.Response:
    return httpx.post(f"{sandbox}/_sandbox/calls/{interaction_id}/end")


def _check_envelope(delivery: Any, interaction_id: str) -> None:
    body = delivery.body
    assert delivery.system == "ccaas"
    assert signature_valid(delivery)
    assert delivery.webhook_id.startswith("msg_")
    assert abs(int(delivery.timestamp) - time.time()) < 300
    assert body["detail-type"] == "Amazon Connect Contact Event"
    assert body["source"] == "aws.connect" and body["account"] == "000000000000"
    assert body["time"].endswith("Z")
    detail = body["detail"]
    assert detail["contactId"] == interaction_id
    assert detail["channel"] == "VOICE" and detail["initiationMethod"] == "INBOUND"
    # ids and states only: nothing about the caller beyond the contact id
    assert set(detail) <= {
        "eventType", "contactId", "channel", "initiationMethod", "agentInfo", "contactData",
    }  # fmt: skip


def test_a_full_call_posts_every_event_in_order_after_its_state(
    sandbox: str, receiver: Receiver, customer: str
) -> None:
    call = _call(sandbox, customer, idv="FAILED", ringMs=0, idvAfterMs=0)
    first = receiver.wait(call, 3)
    assert [d.event_type for d in first] == [
        "INITIATED", "CONNECTED_TO_AGENT", "CONTACT_DATA_UPDATED",
    ]  # fmt: skip
    assert _end(sandbox, call).status_code == 200
    events = receiver.wait(call, 5)
    assert [d.event_type for d in events[3:]] == ["DISCONNECTED", "COMPLETED"]
    for delivery in events:
        _check_envelope(delivery, call)
    assert len({d.webhook_id for d in events}) == 5
    assert "agentInfo" not in events[0].body["detail"]
    assert all(d.body["detail"]["agentInfo"]["agentArn"] == ARN for d in events[1:])
    assert events[2].body["detail"]["contactData"] == {"attributes": {"idv": "FAILED"}}
    assert all("contactData" not in d.body["detail"] for d in events if d is not events[2])
    assert events[2].contact is not None and events[2].contact["IdvResult"] == "FAILED"
    for delivery in events[3:]:
        assert delivery.contact is not None
        assert delivery.contact["State"] == "ENDED"
        assert delivery.contact["DisconnectTimestamp"] is not None
    contact = httpx.get(f"{sandbox}/ccaas/contacts", params={"id": call}).json()["Contacts"][0]
    assert contact["State"] == "ENDED" and contact["AgentId"] == AGENT
    crm = httpx.get(f"{sandbox}/crm/customers", params={"id": customer}).json()["records"][0]
    assert contact["ProfileId"] == crm["CcaasProfile__c"]


def test_initiated_shows_a_queued_contact_and_a_hang_up_while_ringing_never_connects(
    sandbox: str, receiver: Receiver, customer: str
) -> None:
    call = _call(sandbox, customer, idv="PASSED", ringMs=LONG)
    (initiated,) = receiver.wait(call, 1)
    assert initiated.event_type == "INITIATED"
    assert initiated.contact is not None
    assert initiated.contact["State"] == "QUEUED"
    assert initiated.contact["AgentId"] == AGENT  # routed: it rings at the agent's desk
    assert initiated.contact["IdvResult"] == "NOT_ATTEMPTED"
    profile = initiated.contact["ProfileId"]
    newest = httpx.get(f"{sandbox}/ccaas/contacts", params={"profileId": profile}).json()
    assert newest["Contacts"][0]["Id"] == call  # the live contact is the profile's newest
    assert _end(sandbox, call).status_code == 200
    events = receiver.wait(call, 3)
    assert [d.event_type for d in events] == ["INITIATED", "DISCONNECTED", "COMPLETED"]
    assert all("agentInfo" not in d.body["detail"] for d in events)  # no agent ever took it
    assert all(signature_valid(d) for d in events)


def test_connected_to_agent_shows_the_agent_before_any_idv(
    sandbox: str, receiver: Receiver, customer: str
) -> None:
    call = _call(sandbox, customer, idv="PASSED", ringMs=0, idvAfterMs=LONG)
    events = receiver.wait(call, 2)
    assert events[1].event_type == "CONNECTED_TO_AGENT"
    assert events[1].contact is not None
    assert events[1].contact["State"] == "CONNECTED"
    assert events[1].contact["AgentId"] == AGENT
    assert events[1].contact["IdvResult"] == "NOT_ATTEMPTED"
    assert _end(sandbox, call).status_code == 200
    events = receiver.wait(call, 4)
    assert [d.event_type for d in events[2:]] == ["DISCONNECTED", "COMPLETED"]
    assert _end(sandbox, call).status_code == 409  # once only


def test_a_receiver_answering_503_gets_the_same_message_again(
    sandbox: str, receiver: Receiver, customer: str
) -> None:
    receiver.fail_next = 1
    call = _call(sandbox, customer, ringMs=0, idvAfterMs=LONG)
    attempts = receiver.wait(call, 3)
    assert [d.status for d in attempts] == [503, 204, 204]
    # the retry keeps its place: the call's next event waits for it
    assert [d.event_type for d in attempts] == ["INITIATED", "INITIATED", "CONNECTED_TO_AGENT"]
    assert attempts[0].webhook_id == attempts[1].webhook_id
    assert attempts[0].raw == attempts[1].raw
    assert all(signature_valid(d) for d in attempts)
    assert _end(sandbox, call).status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"customerId": "003SB0000000009999", "agentId": AGENT}, "customerId"),
        ({"customerId": None, "agentId": AGENT}, "customerId"),
        ({"agentId": ""}, "agentId"),
        ({"agentId": "agent 7/../x"}, "agentId"),
        ({"agentId": AGENT, "idv": "MAYBE"}, "idv"),
        ({"agentId": AGENT, "ringMs": -1}, "ringMs"),
        ({"agentId": AGENT, "ringMs": True}, "ringMs"),
        ({"agentId": AGENT, "ringMs": 1.5}, "ringMs"),
        ({"agentId": AGENT, "idvAfterMs": 600_001}, "idvAfterMs"),
        ({"agentId": AGENT, "idvAfterMs": "10"}, "idvAfterMs"),
    ],
)
def test_bad_call_requests_get_clear_errors(
    sandbox: str, customer: str, body: dict[str, Any], message: str
) -> None:
    response = httpx.post(f"{sandbox}/_sandbox/calls", json={"customerId": customer, **body})
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_bad_bodies_and_unknown_calls(sandbox: str) -> None:
    response = httpx.post(f"{sandbox}/_sandbox/calls", content=b"{not json")
    assert response.status_code == 400 and response.json()["error"] == "body must be JSON"
    assert httpx.post(f"{sandbox}/_sandbox/calls", json=[1]).status_code == 400
    unknown = _end(sandbox, "0b7a4c52-8a0e-4f7d-9a57-2f5a9d0f3e11")
    assert unknown.status_code == 404 and "no call" in unknown.json()["error"]
    assert _end(sandbox, "not-a-uuid").status_code == 404
    assert httpx.get(f"{sandbox}/_sandbox/calls/x/end").status_code == 404


async def test_without_a_webhook_url_calls_still_change_states(
    base_url: str, sample: list[dict[str, Any]]
) -> None:
    call = await start_call(
        base_url, sample[0]["id"], AGENT, idv="PASSED", ring_ms=0, idv_after_ms=0
    )
    contact: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base_url) as http:
        for _ in range(500):  # bounded poll
            contact = (await http.get("/ccaas/contacts", params={"id": call})).json()["Contacts"][0]
            if contact["IdvResult"] == "PASSED":
                break
            await asyncio.sleep(0.01)
        assert contact["State"] == "CONNECTED" and contact["IdvResult"] == "PASSED"
        await end_call(base_url, call)
        contact = (await http.get("/ccaas/contacts", params={"id": call})).json()["Contacts"][0]
    assert contact["State"] == "ENDED"


def test_the_sandbox_command_posts_to_the_webhook_url_it_was_given(receiver: Receiver) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "gateway",
        "sandbox",
        "--port",
        str(port),
        "--customers",
        "50",
        "--webhook-url",
        receiver.url,
        "--webhook-secret",
        SECRET,
    ]
    root = Path(__file__).resolve().parents[2]
    with subprocess.Popen(
        command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as sandbox:
        try:
            assert sandbox.stdout is not None
            lines: list[str] = []
            while not any("Uvicorn running" in line for line in lines):
                line = sandbox.stdout.readline()
                assert line, "sandbox exited early:\n" + "".join(lines)
                lines.append(line)
            url = f"http://127.0.0.1:{port}"
            customer = httpx.get(f"{url}/_sandbox/sample?n=1").json()["customers"][0]["id"]
            call = _call(url, customer, ringMs=LONG)  # still ringing when the process stops
            (initiated,) = receiver.wait(call, 1)
            assert initiated.event_type == "INITIATED" and signature_valid(initiated)
        finally:
            sandbox.send_signal(signal.SIGINT)
            sandbox.wait(timeout=20)
