"""The demo's promise, over real sockets: one query answers a screen-pop from all four systems."""

from __future__ import annotations

from typing import Any

from .conftest import Gateway

SCREEN_POP = """
query ScreenPop($phone: String!) {
  findCustomers(phone: $phone) {
    id fullName firstName lastName dateOfBirth segment phones { number type } emails
    accounts { id type status accountNumber balance transactions(first: 5) { id amount status } }
    cards { id pan last4 brand status expiry }
    interactions(first: 10) { id channel startedAt intent verified idvResult }
    cases { id number status }
    journey {
      stage contactsLast7Days repeatContact
      lastContact { id intent idvResult }
      openItems { kind refId }
      events(first: 20) { at system kind summary refId }
    }
    suggestedArticles(first: 3) { id title url intents }
    risk { fraudHold collectionsStatus daysPastDue }
  }
}
"""


def national(e164: str) -> str:
    digits = e164[2:]
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


async def test_screenpop_by_national_phone_assembles_every_system(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    # a customer with something in every system, so each part of the answer is checked
    wanted = next(c for c in sample if c["cards"] and c["accountNumbers"])
    body = await gateway.query(SCREEN_POP, {"phone": national(wanted["phones"][0])})
    assert "errors" not in body, body.get("errors")
    found = {c["id"]: c for c in body["data"]["findCustomers"]}
    assert wanted["id"] in found
    customer = found[wanted["id"]]
    assert customer["dateOfBirth"] == wanted["dateOfBirth"]
    assert {a["accountNumber"] for a in customer["accounts"]} == set(wanted["accountNumbers"])
    assert {c["id"] for c in customer["cards"]} == {c["id"] for c in wanted["cards"]}
    for card, raw in zip(
        sorted(customer["cards"], key=lambda c: c["id"]),
        sorted(wanted["cards"], key=lambda c: c["id"]),
        strict=True,
    ):
        # PCI DSS 3.4.1: at most BIN + last 4, never the full PAN
        assert card["pan"] != raw["pan"] and raw["pan"] not in str(body)
        assert card["pan"][:6] == raw["pan"][:6] and card["last4"] == raw["pan"][-4:]
    journey = customer["journey"]
    times = [e["at"] for e in journey["events"]]
    assert times == sorted(times, reverse=True)
    systems = {e["system"] for e in journey["events"]}
    assert "CCAAS" in systems or not customer["interactions"]
    assert journey["stage"]


async def test_screenpop_finds_every_member_of_a_household(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    by_phone: dict[str, set[str]] = {}
    for c in sample:
        for phone in c["phones"]:
            by_phone.setdefault(phone, set()).add(c["id"])
    phone, members = max(by_phone.items(), key=lambda kv: len(kv[1]))
    assert len(members) >= 2, "the sandbox sample should contain a shared household phone"
    body = await gateway.query(
        "query($p: String!) { findCustomers(phone: $p) { id } }", {"p": phone}
    )
    assert members <= {c["id"] for c in body["data"]["findCustomers"]}


async def test_find_by_account_number_and_email_intersect(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    wanted = next(c for c in sample if c["accountNumbers"] and c["emails"])
    query = "query($a: String, $e: String) { findCustomers(accountNumber: $a, email: $e) { id } }"
    body = await gateway.query(
        query, {"a": wanted["accountNumbers"][0], "e": wanted["emails"][0].upper()}
    )
    assert [c["id"] for c in body["data"]["findCustomers"]] == [wanted["id"]]
    other = next(c for c in sample if c["id"] != wanted["id"] and c["emails"])
    body = await gateway.query(query, {"a": wanted["accountNumbers"][0], "e": other["emails"][0]})
    assert body["data"]["findCustomers"] == []


async def test_interaction_resolves_its_customer_through_the_crm(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    for wanted in sample:
        body = await gateway.query(
            "query($id: ID!) { customer(id: $id) { interactions(first: 1) { id } } }",
            {"id": wanted["id"]},
        )
        contacts = body["data"]["customer"]["interactions"]
        if contacts:
            break
    body = await gateway.query(
        "query($id: ID!) { interaction(id: $id) { id customer { id } } }", {"id": contacts[0]["id"]}
    )
    assert body["data"]["interaction"]["customer"]["id"] == wanted["id"]


async def test_search_articles_returns_ranked_hits(gateway: Gateway) -> None:
    body = await gateway.query('{ searchArticles(query: "card", first: 5) { id title url } }')
    hits = body["data"]["searchArticles"]
    assert 1 <= len(hits) <= 5
    assert all(h["url"].startswith("http") for h in hits)


async def test_customers_keeps_order_and_nulls_unknown_with_errors(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    a, b = sample[0]["id"], sample[1]["id"]
    unknown = "003SB9999999999999"
    body = await gateway.query(
        "query($ids: [ID!]!) { customers(ids: $ids) { id } }", {"ids": [b, unknown, a, "x"]}
    )
    assert body["data"]["customers"] == [{"id": b}, None, {"id": a}, None]
    errors = {tuple(e["path"]): e["extensions"]["code"] for e in body["errors"]}
    assert errors == {("customers", 1): "NOT_FOUND", ("customers", 3): "BAD_USER_INPUT"}
