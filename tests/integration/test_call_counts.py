"""Batching is the heart of it: one call per source resource per nesting level, whatever the
number of customers. Counts come from the sandbox's own request counters."""

from __future__ import annotations

from typing import Any

import pytest

from sources.sandbox.client import mint_token, start_contact

from .conftest import Gateway

WIDE = """query($ids: [ID!]!) { customers(ids: $ids) {
  id accounts { id } cards { id } interactions(first: 10) { id } cases { id }
  journey { stage events(first: 20) { kind } }
} }"""

# customers -> CRM once; then, one level down, each resource once: accounts, cards, contacts
# (shared by interactions and the journey), cases (shared), core events, risk and the core's
# party record (journey: its DATA_MISMATCH items).
WIDE_CALLS = {
    "crm GET /customers": 1,
    "crm GET /cases": 1,
    "core GET /accounts": 1,
    "core GET /cards": 1,
    "core GET /events": 1,
    "core GET /risk": 1,
    "core GET /parties": 1,
    "ccaas GET /contacts": 1,
}

SCREEN_POP = """query($phone: String!) { findCustomers(phone: $phone) {
  id accounts { id transactions(first: 5) { id } } cards { id } interactions(first: 10) { id }
  cases(status: OPEN) { id } journey { stage events(first: 20) { kind } }
  suggestedArticles(first: 3) { id } risk { fraudHold }
} }"""

# search (CRM) -> level 2: accounts, cards, contacts, cases, events, risk -> level 3:
# transactions (per account) and articles (per recent intent).
SCREEN_POP_CALLS = {
    "crm GET /customers/search": 1,
    "crm GET /cases": 1,
    "core GET /accounts": 1,
    "core GET /cards": 1,
    "core GET /events": 1,
    "core GET /risk": 1,
    "core GET /parties": 1,
    "core GET /transactions": 1,
    "ccaas GET /contacts": 1,
    "knowledge GET /articles/by-intent": 1,
}


@pytest.mark.parametrize("n", [1, 200])
async def test_customers_wide_query_costs_eight_calls_for_any_count(
    gateway: Gateway, sample: list[dict[str, Any]], n: int
) -> None:
    ids = [c["id"] for c in sample[:n]]
    await gateway.reset()
    body = await gateway.query(WIDE, {"ids": ids})
    assert "errors" not in body
    assert len(body["data"]["customers"]) == n
    assert await gateway.calls() == WIDE_CALLS


async def test_customers_over_the_batch_limit_are_chunked(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    ids = [c["id"] for c in sample[:200]] + [f"003SB{i:013d}" for i in range(1_000_000, 1_000_050)]
    await gateway.reset()
    body = await gateway.query("query($ids: [ID!]!) { customers(ids: $ids) { id } }", {"ids": ids})
    assert len(body["data"]["customers"]) == 250
    assert await gateway.calls() == {"crm GET /customers": 2}  # 250 ids, 200 per call


async def test_screen_pop_costs_one_call_per_resource_per_level(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    await gateway.reset()
    body = await gateway.query(SCREEN_POP, {"phone": sample[0]["phones"][0]})
    assert "errors" not in body
    assert await gateway.calls() == SCREEN_POP_CALLS


async def test_identical_keys_across_a_query_are_fetched_once(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    cid = sample[0]["id"]
    query = """query($id: ID!) {
      a: customer(id: $id) { accounts { id } }
      b: customer(id: $id) { accounts { id } cards { id } }
      c: customers(ids: [$id, $id]) { id accounts { id } }
    }"""
    await gateway.reset()
    body = await gateway.query(query, {"id": cid})
    assert "errors" not in body
    assert await gateway.calls() == {
        "crm GET /customers": 1,
        "core GET /accounts": 1,
        "core GET /cards": 1,
    }


async def test_agent_screen_pop_adds_one_call_to_confirm_the_interaction(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    """README "Batching": the agent's screen-pop with X-Interaction-Id is the 9 calls above plus
    the CCaaS lookup of that interaction (by id, on the same route as the contact history)."""
    customer = sample[60]
    agent = await mint_token(gateway.sandbox, sub="agent-0077", roles=["agent"])
    call = await start_contact(gateway.sandbox, customer_id=customer["id"], agent_id="agent-0077")
    headers = {"x-interaction-id": call}
    await gateway.reset()
    body = await gateway.query(
        SCREEN_POP, {"phone": customer["phones"][0]}, token=agent, headers=headers
    )
    assert body["data"]["findCustomers"]
    assert await gateway.calls() == {**SCREEN_POP_CALLS, "ccaas GET /contacts": 2}

    await gateway.reset()
    body = await gateway.query(
        '{ searchArticles(query: "card") { title } }', token=agent, headers=headers
    )
    assert "errors" not in body
    assert await gateway.calls() == {"knowledge GET /articles/search": 1}
