"""Masking over real HTTP, per role: each role sees exactly what the default policy allows, and
the raw sensitive value (read directly from the sandbox) never appears anywhere in the response
body of a role that must not see it — through aliases, fragments, nested paths, lists, the
journey, errors, or a second request of another role."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from schema import SensitiveClass as S
from sources.sandbox.client import mint_token, start_contact

from .conftest import HASH_KEY, Gateway

ROLES = ["ivr", "agent", "collections", "supervisor", "fraud_analyst", "developer"]
POLICY = Policy.load()
MASKER = Masker(HASH_KEY)

EVERYTHING = """
query Everything($id: ID!) { customer(id: $id) { ...All } }
fragment All on Customer {
  id ssn dateOfBirth emails phones { number type } address { street city state postalCode }
  cards { id pan last4 expiry }
  accounts { id accountNumber balance availableBalance daysPastDue
             transactions(first: 5) { amount description merchant } }
  risk { needsSpecialist fraudHold fraudReason collectionsStatus daysPastDue }
  interactions(first: 5) { id summary intent }
  journey { stage openItems { kind summary } events(first: 30) { kind system summary } }
}
"""


def subject(role: str) -> str:
    return f"{role}-0001"


@pytest.fixture(scope="module")
def tokens(gateway: Gateway) -> dict[str, str]:
    async def mint_all() -> dict[str, str]:
        return {r: await mint_token(gateway.sandbox, sub=subject(r), roles=[r]) for r in ROLES}

    return asyncio.run(mint_all())


@pytest.fixture(scope="module")
def customers(sample: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Customers with something in every field, away from the ones other tests use."""
    rich = [c for c in sample[100:] if c["cards"] and len(c["accountNumbers"]) >= 2 and c["emails"]]
    assert len(rich) >= 3
    return rich


def treatment(role: str, klass: S, verified: bool) -> str:
    return POLICY.treatment({role}, klass, verified)


def leaks(raw: dict[str, Any]) -> dict[S, list[str]]:
    return {
        S.PII_NATIONAL_ID: [raw["ssn"]],
        S.PII_DOB: [raw["dateOfBirth"]],
        S.PCI_PAN: [c["pan"] for c in raw["cards"]],
        S.PII_PHONE: raw["phones"],
        S.PII_EMAIL: raw["emails"],
        S.ACCOUNT_NUMBER: raw["accountNumbers"],
        S.BALANCE: raw["balances"],
    }


def assert_no_leaks(body_text: str, raw: dict[str, Any], role: str, verified: bool) -> None:
    for klass, values in leaks(raw).items():
        if treatment(role, klass, verified) != "full":
            for value in values:
                assert value not in body_text, f"{role} (verified={verified}) saw raw {klass.value}"


class Shown:
    """Checks each sensitive value in one answer against what the policy says the role sees."""

    def __init__(self, body: dict[str, Any], role: str, verified: bool) -> None:
        self.errors = {tuple(e["path"]): e["extensions"]["code"] for e in body.get("errors", [])}
        self.role, self.verified = role, verified

    def check(self, klass: S, raw: Any, shown: Any, path: tuple[Any, ...]) -> None:
        how = treatment(self.role, klass, self.verified)
        if how == "deny":
            assert shown is None and self.errors.get(path) == "FORBIDDEN_FIELD", (path, shown)
        else:
            assert shown == MASKER.apply(how, klass, raw), (path, how, shown)
            assert path not in self.errors


async def everything(
    gateway: Gateway, token: str, cid: str, interaction: str | None = None
) -> dict[str, Any]:
    headers = {"x-interaction-id": interaction} if interaction else None
    return await gateway.query(EVERYTHING, {"id": cid}, token=token, headers=headers)


@pytest.mark.parametrize("verified", [False, True], ids=["unverified", "verified"])
@pytest.mark.parametrize("role", [r for r in ROLES if not POLICY.placeholders({r})])
async def test_each_role_sees_exactly_what_the_policy_allows(
    gateway: Gateway,
    tokens: dict[str, str],
    customers: list[dict[str, Any]],
    role: str,
    verified: bool,
) -> None:
    raw = customers[ROLES.index(role) % len(customers)]
    interaction = None
    if verified:
        interaction = await start_contact(
            gateway.sandbox, customer_id=raw["id"], agent_id=subject(role)
        )
    body = await everything(gateway, tokens[role], raw["id"], interaction)
    c = body["data"]["customer"]
    shown = Shown(body, role, verified)
    base = ("customer",)
    shown.check(S.PII_NATIONAL_ID, raw["ssn"], c["ssn"], (*base, "ssn"))
    shown.check(S.PII_DOB, raw["dateOfBirth"], c["dateOfBirth"], (*base, "dateOfBirth"))
    shown.check(S.PII_EMAIL, raw["emails"], c["emails"], (*base, "emails"))
    for i, phone in enumerate(c["phones"]):
        shown.check(S.PII_PHONE, raw["phones"][i], phone["number"], (*base, "phones", i, "number"))
    pans = {card["id"]: card["pan"] for card in raw["cards"]}
    for i, card in enumerate(c["cards"]):
        path = (*base, "cards", i)
        shown.check(S.PCI_PAN, pans[card["id"]], card["pan"], (*path, "pan"))
        shown.check(S.PCI_PAN, pans[card["id"]][-4:], card["last4"], (*path, "last4"))
    for field, klass, raws in (
        ("accountNumber", S.ACCOUNT_NUMBER, raw["accountNumbers"]),
        ("balance", S.BALANCE, [Decimal(b) for b in raw["balances"]]),
    ):
        how = treatment(role, klass, verified)
        values = [a[field] for a in c["accounts"]]
        if how == "deny":
            assert values == [None] * len(values)
            paths = [(*base, "accounts", i, field) for i in range(len(values))]
            assert all(shown.errors[p] == "FORBIDDEN_FIELD" for p in paths)
        else:
            assert sorted(map(str, values)) == sorted(
                str(MASKER.apply(how, klass, r)) for r in raws
            )
    for i, account in enumerate(c["accounts"]):
        if treatment(role, S.TRANSACTIONS, verified) == "deny":
            assert account["transactions"] is None
            assert shown.errors[(*base, "accounts", i, "transactions")] == "FORBIDDEN_FIELD"
    assert c["risk"]["needsSpecialist"] in (True, False)  # every role may route
    if treatment(role, S.RISK_SUMMARY, verified) == "deny":
        assert c["risk"]["fraudHold"] is None and c["risk"]["collectionsStatus"] is None
        assert c["journey"]["stage"] not in ("FRAUD_REVIEW", "COLLECTIONS")
        assert not {i["kind"] for i in c["journey"]["openItems"]} & {"FRAUD_HOLD", "PAST_DUE"}
    assert_no_leaks(str(body), raw, role, verified)


BYPASSES = {
    "aliases": """query($id: ID!) { c: customer(id: $id) { s: ssn d: dateOfBirth
        k: cards { p: pan l: last4 } a: accounts { n: accountNumber b: balance } } }""",
    "fragments": """query($id: ID!) {
        customer(id: $id) { ...on Customer { ssn } ...Cards ...Accts } }
        fragment Cards on Customer { cards { ...P } } fragment P on Card { pan last4 }
        fragment Accts on Customer { accounts { accountNumber balance availableBalance } }""",
    "lists": """query($id: ID!) {
        customers(ids: [$id, $id]) { ssn dateOfBirth emails cards { pan } } }""",
    "typename": """query($id: ID!) {
        customer(id: $id) { __typename ssn cards { __typename pan } } }""",
}


@pytest.mark.parametrize("shape", list(BYPASSES))
@pytest.mark.parametrize("role", ["ivr", "agent", "developer"])
async def test_no_query_shape_bypasses_masking(
    gateway: Gateway, tokens: dict[str, str], customers: list[dict[str, Any]], role: str, shape: str
) -> None:
    raw = customers[0]
    body = await gateway.query(BYPASSES[shape], {"id": raw["id"]}, token=tokens[role])
    assert body["data"]
    assert_no_leaks(str(body), raw, role, verified=False)


async def test_nested_path_interaction_to_customer_to_cards_is_masked(
    gateway: Gateway, tokens: dict[str, str], customers: list[dict[str, Any]]
) -> None:
    raw = next(c for c in customers if c["phones"])
    found = await gateway.query(
        "query($id: ID!) { customer(id: $id) { interactions(first: 1) { id } } }", {"id": raw["id"]}
    )
    contact = found["data"]["customer"]["interactions"][0]["id"]
    nested = """query($id: ID!) { interaction(id: $id) { summary customer {
        ssn dateOfBirth cards { pan } accounts { accountNumber balance } } } }"""
    for role in ("ivr", "agent", "developer"):
        body = await gateway.query(nested, {"id": contact}, token=tokens[role])
        assert body["data"]["interaction"]["customer"] is not None
        assert_no_leaks(str(body), raw, role, verified=False)


async def test_screen_pop_by_phone_masks_every_household_member(
    gateway: Gateway, tokens: dict[str, str], sample: list[dict[str, Any]]
) -> None:
    by_phone: dict[str, list[dict[str, Any]]] = {}
    for c in sample:
        for phone in c["phones"]:
            by_phone.setdefault(phone, []).append(c)
    phone, members = max(by_phone.items(), key=lambda kv: len(kv[1]))
    query = """query($p: String!) { findCustomers(phone: $p) { ssn dateOfBirth emails
        phones { number } cards { pan last4 } accounts { accountNumber balance } } }"""
    body = await gateway.query(query, {"p": phone}, token=tokens["agent"])
    assert len(body["data"]["findCustomers"]) >= len(members)
    for member in members:
        assert_no_leaks(str(body), member, "agent", verified=False)


async def test_journey_summaries_follow_the_class_of_each_event(
    gateway: Gateway, tokens: dict[str, str], sample: list[dict[str, Any]]
) -> None:
    query = """query($id: ID!) { customer(id: $id) { interactions(first: 10) { summary }
        journey { events(first: 50) { system kind summary } } } }"""
    for raw in sample[:40]:
        full = await gateway.query(query, {"id": raw["id"]})  # fraud analyst: everything
        events = full["data"]["customer"]["journey"]["events"]
        if any(e["system"] == "CCAAS" for e in events) and any(
            e["system"] == "CORE" for e in events
        ):
            break
    agent = await gateway.query(query, {"id": raw["id"]}, token=tokens["agent"])
    masked = agent["data"]["customer"]["journey"]["events"]
    for original, seen in zip(events, masked, strict=True):
        if original["system"] == "CCAAS":
            assert seen["summary"] == "[redacted]"
        elif original["system"] == "CRM":
            assert seen["summary"] == original["summary"]
        elif original["kind"] in ("PAYMENT_POSTED", "FEE_CHARGED", "FRAUD_ALERT", "CARD_BLOCKED"):
            assert seen["summary"] is None
    text = str(agent)
    for contact in full["data"]["customer"]["interactions"]:
        if contact["summary"]:
            assert contact["summary"] not in text


async def test_another_role_after_a_full_view_gets_no_cached_value(
    gateway: Gateway, tokens: dict[str, str], customers: list[dict[str, Any]]
) -> None:
    raw = customers[1]
    full = await everything(gateway, gateway.token, raw["id"])
    assert raw["ssn"][-4:] in str(full)
    for role in ("ivr", "agent", "developer"):
        body = await everything(gateway, tokens[role], raw["id"])
        assert_no_leaks(str(body), raw, role, verified=False)


async def test_batched_json_arrays_are_not_executed(
    gateway: Gateway, tokens: dict[str, str], customers: list[dict[str, Any]]
) -> None:
    raw = customers[0]
    response = await gateway.post(
        [{"query": EVERYTHING, "variables": {"id": raw["id"]}}] * 2,  # type: ignore[arg-type]
        token=tokens["agent"],
    )
    assert response.status_code == 400
    assert_no_leaks(response.text, raw, "agent", verified=False)
