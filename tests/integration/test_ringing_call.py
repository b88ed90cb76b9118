"""A simulated call still ringing (issue #14) is a QUEUED contact at its agent's desk: the gateway
must read it, not fail the customer's contact history on a state it does not know."""

from __future__ import annotations

from typing import Any

from sources.sandbox.client import end_call, start_call

from .conftest import Gateway

QUERY = "query($id: ID!) { customer(id: $id) { interactions(first: 1) { id state agentId } } }"


async def test_a_ringing_call_reads_as_queued_then_ended(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    customer = sample[70]["id"]
    call = await start_call(gateway.sandbox, customer, "agent-0070", ring_ms=600_000)
    body = await gateway.query(QUERY, {"id": customer})
    assert "errors" not in body, body["errors"]
    assert body["data"]["customer"]["interactions"] == [
        {"id": call, "state": "QUEUED", "agentId": "agent-0070"}
    ]
    await end_call(gateway.sandbox, call)
    body = await gateway.query(QUERY, {"id": customer})
    assert body["data"]["customer"]["interactions"] == [
        {"id": call, "state": "ENDED", "agentId": "agent-0070"}
    ]
