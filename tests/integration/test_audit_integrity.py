"""Audit completeness and integrity (issue #12 item 6): reads through `interaction(id:)` name the
customer; `requestId` is the gateway's own (the caller's X-Request-Id is `clientRequestId`); and
when the audit sink falls behind, operations are refused rather than lines dropped."""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any

from sources.sandbox.client import mint_token

from .budgeted import own_gateway
from .conftest import Gateway


async def contact_of(gateway: Gateway, customer_id: str) -> str:
    found = await gateway.query(
        "query($id: ID!) { customer(id: $id) { interactions(first: 1) { id } } }",
        {"id": customer_id},
    )
    contact: str = found["data"]["customer"]["interactions"][0]["id"]
    return contact


async def test_reads_through_an_interaction_name_its_customer(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    raw = sample[60]
    contact = await contact_of(gateway, raw["id"])
    gateway.audit.clear()
    body = await gateway.query(
        "query($id: ID!) { interaction(id: $id) { summary customer { id } } }", {"id": contact}
    )
    assert body["data"]["interaction"]["customer"]["id"] == raw["id"]
    (summary,) = [e for e in gateway.audit if e.get("field") == "Interaction.summary"]
    assert summary["customerId"] == raw["id"] and summary["profileId"]
    # without the customer in the answer, the contact's profile still says whose it was
    gateway.audit.clear()
    await gateway.query("query($id: ID!) { interaction(id: $id) { summary } }", {"id": contact})
    (alone,) = [e for e in gateway.audit if e.get("field") == "Interaction.summary"]
    assert alone["profileId"] == summary["profileId"]


async def test_the_audit_request_id_is_the_gateways_own(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    query = "query($id: ID!) { customer(id: $id) { ssn } }"
    seen = []
    for _ in range(2):
        gateway.audit.clear()
        response = await gateway.post(
            {"query": query, "variables": {"id": sample[61]["id"]}},
            headers={"x-request-id": "desk-7"},
        )
        # the caller still gets back the id it knows
        assert response.headers["x-request-id"] == "desk-7"
        assert response.json()["extensions"]["requestId"] == "desk-7"
        (event,) = [e for e in gateway.audit if e["type"] == "sensitive_read"]
        assert event["clientRequestId"] == "desk-7"
        assert re.fullmatch(r"[0-9a-f]{32}", event["requestId"])
        seen.append(event["requestId"])
    assert seen[0] != seen[1]  # a caller cannot make two requests' audit lines collide
    gateway.audit.clear()
    await gateway.query(query, {"id": sample[61]["id"]})
    (event,) = [e for e in gateway.audit if e["type"] == "sensitive_read"]
    assert event["clientRequestId"] is None


async def test_a_stalled_audit_sink_refuses_operations_and_drops_no_line(
    sandbox_url: str, sample: list[dict[str, Any]]
) -> None:
    entered, release = threading.Event(), threading.Event()
    written: list[bytes] = []

    def stalled(lines: bytes) -> None:
        entered.set()
        assert release.wait(30)
        written.append(lines)

    query = "query($id: ID!) { customer(id: $id) { fullName ssn } }"
    no_budgets = {"data_budget": {"enabled": False}, "lookups": {"enabled": False}}
    with own_gateway(sandbox_url, no_budgets, sink=stalled, max_pending=1) as gateway:
        token = await mint_token(gateway.sandbox, sub="analyst-audit", roles=["fraud_analyst"])
        first = asyncio.ensure_future(gateway.query(query, {"id": sample[62]["id"]}, token=token))
        await asyncio.to_thread(entered.wait, 30)
        # the first answer waits for its lines; meanwhile nothing else may read unaudited
        await gateway.reset()
        refused = await gateway.post(
            {"query": query, "variables": {"id": sample[63]["id"]}}, token=token
        )
        assert refused.status_code == 503
        assert [e["extensions"]["code"] for e in refused.json()["errors"]] == ["AUDIT_UNAVAILABLE"]
        assert refused.json()["data"] is None and await gateway.calls() == {}
        assert not first.done()
        release.set()
        body = await asyncio.wait_for(first, 30)
        assert body["data"]["customer"]["ssn"]
        assert sample[62]["id"].encode() in b"".join(written)
        # the sink caught up: operations run again
        again = await gateway.query(query, {"id": sample[63]["id"]}, token=token)
        assert again["data"]["customer"]["ssn"] and "errors" not in again
