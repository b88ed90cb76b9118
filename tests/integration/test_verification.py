"""Verification-aware access: an agent's richer treatments apply only to the customer on a live
interaction that the CCaaS system says is assigned to that agent and passed ID&V."""

from __future__ import annotations

from typing import Any

import pytest

from sources.sandbox.client import mint_token, start_contact

from .conftest import Gateway

QUERY = """query($ids: [ID!]!) { customers(ids: $ids) { id ssn dateOfBirth cards { last4 } } }"""


@pytest.fixture
async def agent(gateway: Gateway) -> str:
    return await mint_token(gateway.sandbox, sub="agent-0042", roles=["agent"])


def ssns(body: dict[str, Any]) -> list[str | None]:
    return [c["ssn"] for c in body["data"]["customers"]]


async def test_verified_interaction_unlocks_only_its_own_customer(
    gateway: Gateway, agent: str, sample: list[dict[str, Any]]
) -> None:
    mine, other = sample[60], sample[61]
    call = await start_contact(gateway.sandbox, customer_id=mine["id"], agent_id="agent-0042")
    body = await gateway.query(
        QUERY, {"ids": [mine["id"], other["id"]]}, token=agent, headers={"x-interaction-id": call}
    )
    assert ssns(body) == ["***-**-" + mine["ssn"][-4:], None]
    assert body["data"]["customers"][0]["dateOfBirth"] == mine["dateOfBirth"]
    denied = {tuple(e["path"]) for e in body["errors"]}
    assert ("customers", 1, "ssn") in denied and ("customers", 0, "ssn") not in denied


@pytest.mark.parametrize(
    "how",
    [
        "another agent's call",
        "ID&V failed",
        "ID&V not attempted",
        "no header",
        "garbage header",
        "ended call",
    ],
)
async def test_anything_short_of_a_live_verified_call_of_this_agent_is_unverified(
    gateway: Gateway, agent: str, sample: list[dict[str, Any]], how: str
) -> None:
    mine = sample[62]
    headers: dict[str, str] | None = None
    if how == "another agent's call":
        call = await start_contact(gateway.sandbox, customer_id=mine["id"], agent_id="agent-0999")
        headers = {"x-interaction-id": call}
    elif how == "ID&V failed":
        call = await start_contact(
            gateway.sandbox, customer_id=mine["id"], agent_id="agent-0042", idv="FAILED"
        )
        headers = {"x-interaction-id": call}
    elif how == "ID&V not attempted":
        call = await start_contact(
            gateway.sandbox, customer_id=mine["id"], agent_id="agent-0042", idv="NOT_ATTEMPTED"
        )
        headers = {"x-interaction-id": call}
    elif how == "garbage header":
        headers = {"x-interaction-id": "../../contacts?id=1&agent=agent-0042"}
    elif how == "ended call":
        # the agent who handled it, ID&V passed, but the call is over
        mine, contact, handler = await past_verified_contact(gateway, sample)
        agent = await mint_token(gateway.sandbox, sub=handler, roles=["agent"])
        headers = {"x-interaction-id": contact}
    body = await gateway.query(QUERY, {"ids": [mine["id"]]}, token=agent, headers=headers)
    assert ssns(body) == [None]
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN_FIELD"


PAST = """query($id: ID!) {
    customer(id: $id) { interactions(first: 20) { id verified state agentId } } }"""


async def past_verified_contact(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> tuple[dict[str, Any], str, str]:
    """A customer, an ended agent-handled contact of theirs that passed ID&V, and its agent."""
    for raw in sample[64:]:
        past = await gateway.query(PAST, {"id": raw["id"]})
        for c in past["data"]["customer"]["interactions"]:
            if c["verified"] and c["state"] == "ENDED" and c["agentId"]:
                return raw, c["id"], c["agentId"]
    raise AssertionError("no sample customer has a past verified contact")


async def test_verification_costs_one_ccaas_call_and_none_without_the_header(
    gateway: Gateway, agent: str, sample: list[dict[str, Any]]
) -> None:
    mine = sample[63]
    call = await start_contact(gateway.sandbox, customer_id=mine["id"], agent_id="agent-0042")
    await gateway.reset()
    await gateway.query(
        QUERY, {"ids": [mine["id"]]}, token=agent, headers={"x-interaction-id": call}
    )
    assert await gateway.calls() == {
        "ccaas GET /contacts": 1,
        "crm GET /customers": 1,
        "core GET /cards": 1,
    }
    await gateway.reset()
    await gateway.query(QUERY, {"ids": [mine["id"]]}, token=agent)
    assert "ccaas GET /contacts" not in await gateway.calls()
    await gateway.reset()
    await gateway.query(QUERY, {"ids": [mine["id"]]}, headers={"x-interaction-id": call})
    assert "ccaas GET /contacts" not in await gateway.calls()  # a fraud analyst needs no check
