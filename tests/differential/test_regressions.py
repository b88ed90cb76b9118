"""Cases the differential fuzzer found (each fixed, in both executions), and the GraphQL
features the compiler must get exactly right, compiled vs standard, with call counts."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sources.sandbox.client import set_fault

from .conftest import Pair, assert_same


async def _both(
    pair: Pair,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    role: str = "agent",
    verified: bool = False,
) -> tuple[Any, Any]:
    payload = {"query": query, "variables": variables or {}}
    async with httpx.AsyncClient(timeout=30) as http:
        compiled, standard = await pair.both(
            http, payload, pair.headers(role, verified=verified), count_calls=True
        )
    assert_same(compiled, standard, query)
    return compiled, standard


async def test_sibling_root_fields_share_their_childrens_calls(pair: Pair) -> None:
    """Found by the fuzzer: `customer` and `customers` resolve in the same CRM call but a few
    awaits apart in standard execution, which then asked core for accounts twice."""
    a, b, c = (x["id"] for x in pair.sample[1:4])
    query = f"""{{ one: customer(id: "{a}") {{ accounts {{ id }} journey {{ stage }} }}
        many: customers(ids: ["{b}", "{c}"]) {{ accounts {{ id }} journey {{ stage }} }} }}"""
    compiled, _ = await _both(pair, query)
    assert compiled.calls["crm GET /customers"] == 1
    assert compiled.calls["core GET /accounts"] == 1
    assert compiled.calls["core GET /events"] == 1


async def test_a_bad_argument_of_a_non_null_root_field_costs_no_call(pair: Pair) -> None:
    """Found by the fuzzer: the siblings' calls raced the failure that nulled the answer."""
    query = f"""{{ customer(id: "{pair.sample[1]["id"]}") {{ accounts {{ id }} }}
        searchArticles(query: "card", first: 0) {{ id }} }}"""
    compiled, _ = await _both(pair, query)
    assert compiled.body["data"] is None
    assert compiled.body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert compiled.calls == {}


async def test_a_malformed_email_next_to_a_valid_phone(pair: Pair) -> None:
    phone = pair.sample[1]["phones"][0]
    query = f'{{ findCustomers(phone: "{phone}", email: "nope") {{ id }} }}'
    compiled, _ = await _both(pair, query)
    assert compiled.body["errors"][0]["message"] == "malformed email address"
    assert compiled.calls == {}


async def test_a_root_field_failing_early_does_not_unverify_its_siblings(pair: Pair) -> None:
    """Found by the fuzzer: `customer(id: "not-an-id")` waited for the caller's verification
    first, and `customers` then masked the verified customer as unverified."""
    verified = pair.sample[0]["id"]
    query = f'{{ customer(id: "not-an-id") {{ id }} customers(ids: ["{verified}"]) {{ ssn }} }}'
    compiled, _ = await _both(pair, query, verified=True)
    assert compiled.body["data"]["customers"][0]["ssn"] is not None


async def test_a_failing_non_null_field_nulls_its_nearest_nullable_parent(pair: Pair) -> None:
    ids = [x["id"] for x in pair.sample[1:4]]
    query = """query($ids: [ID!]!) { customers(ids: $ids) {
        id journey { stage events(first: 0) { kind } } } }"""
    compiled, _ = await _both(pair, query, {"ids": ids})
    assert [c["journey"] for c in compiled.body["data"]["customers"]] == [None] * 3
    assert {tuple(e["path"]) for e in compiled.body["errors"]} == {
        ("customers", i, "journey", "events") for i in range(3)
    }


FEATURES = """query Features($id: ID!, $ids: [ID!]!, $cases: Boolean!, $noCards: Boolean!,
                            $n: Int!) {
  __typename
  who: customer(id: $id) { ...Person kind: __typename
    accounts { ... on Account { id balance } ...Money }
    cases(status: OPEN) @include(if: $cases) { number status }
    cards @skip(if: $noCards) { last4 pan }
    interactions(first: $n) { channel customer { id } }
    journey { stage lastContact { intent customer { fullName } }
              events(first: $n) { kind summary } }
  }
  also: customers(ids: $ids) { ...Person id a: id risk { needsSpecialist fraudReason } }
}
fragment Person on Customer { id fullName ssn phones { number } emails address { city } }
fragment Money on Account { balance availableBalance transactions(first: 2) { amount } }"""


@pytest.mark.parametrize("role", ["agent", "supervisor", "fraud_analyst", "ivr", "developer"])
@pytest.mark.parametrize(("cases", "no_cards"), [(True, False), (False, True)])
async def test_aliases_fragments_directives_and_typename(
    pair: Pair, role: str, cases: bool, no_cards: bool
) -> None:
    variables = {
        "id": pair.sample[0]["id"],
        "ids": [pair.sample[0]["id"], "not-an-id", "003SB0000000000000", pair.sample[2]["id"]],
        "cases": cases,
        "noCards": no_cards,
        "n": 3,
    }
    for verified in (False, True):
        compiled, _ = await _both(pair, FEATURES, variables, role=role, verified=verified)
        data = compiled.body["data"]
        assert data["__typename"] == "Query" and data["who"]["kind"] == "Customer"
        assert ("cases" in data["who"]) is cases and ("cards" in data["who"]) is not no_cards


async def test_the_callers_own_interaction_read_as_a_root_field(pair: Pair) -> None:
    contact = pair.interaction["agent"]
    query = f"""{{ interaction(id: "{contact}") {{ id verified summary
        customer {{ id ssn }} }} }}"""
    compiled, _ = await _both(pair, query, verified=True)
    assert compiled.calls["ccaas GET /contacts"] == 1  # the verification's call, shared


JOURNEY = """query($ids: [ID!]!) { customers(ids: $ids) { id journey {
    stage missing contactsLast7Days repeatContact repeatIntent lastContact { id intent }
    openItems { kind refId summary } events(first: 50) { system kind refId summary } } } }"""

# per system down: what the journey keeps (the others' events) and what it no longer says. The
# CRM down has no journey to show (the customer is the CRM's): its cases missing alone is
# tests/resolvers/test_journey.py's.
CONTACTS = {"stage", "lastContact", "contactsLast7Days", "repeatContact", "repeatIntent"}
PARTIAL = [
    (("core",), "CORE", {"stage"}),
    (("ccaas",), "CCAAS", CONTACTS),
    (("core", "ccaas"), "", CONTACTS),
]


@pytest.mark.parametrize(("down", "gone", "nulled"), PARTIAL, ids=["+".join(p[0]) for p in PARTIAL])
async def test_a_system_down_leaves_the_journey_of_the_others(
    pair: Pair, down: tuple[str, ...], gone: str, nulled: set[str]
) -> None:
    """The journey is assembled from the systems that answered, the same in both executions:
    the missing systems named, their events absent, and what derives from them (the stage, the
    contact-derived fields) null with the first missing system's error at its own path."""
    ids = [x["id"] for x in pair.sample[:12]]
    for system in down:
        await set_fault(pair.sandbox, system, mode="down")
    try:
        for role, verified in (("agent", True), ("agent", False), ("supervisor", False)):
            compiled, _ = await _both(pair, JOURNEY, {"ids": ids}, role=role, verified=verified)
            for i, customer in enumerate(compiled.body["data"]["customers"]):
                journey = customer["journey"]
                assert journey is not None, compiled.body
                assert set(journey["missing"]) == set(down)
                assert all(e["system"] != gone for e in journey["events"])
                assert all(journey[f] is None for f in nulled - {"stage"})
                if "core" in down:  # risk missing: no stage can be told
                    assert journey["stage"] is None
                if journey["stage"] is None:  # never withheld by masking: a neutral instead
                    assert any(
                        e["path"] == ["customers", i, "journey", "stage"]
                        and e["extensions"]["code"] == "SOURCE_UNAVAILABLE"
                        for e in compiled.body["errors"]
                    )
                for error in compiled.body["errors"]:
                    if error["path"][:3] == ["customers", i, "journey"] and (
                        "source" in error["extensions"]  # not a masked value's
                    ):
                        assert error["path"][3] in nulled, error
                        # the first missing part in the error order: contacts, cases, core
                        assert error["extensions"]["source"] == down[-1], error
    finally:
        for system in down:
            await set_fault(pair.sandbox, system, mode="ok", latency_ms=0, error_rate=0.0)
