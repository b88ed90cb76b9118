"""The audit trail (PCI DSS 10.2.1.1): one event per (field, customer) per request for every
sensitive read returned unredacted and for every denial; never the value."""

from __future__ import annotations

from typing import Any

from sources.sandbox.client import mint_token

from .conftest import Gateway

QUERY = """query ScreenPop($id: ID!) { customer(id: $id) { ssn cards { pan last4 } emails } }"""


def reads(gateway: Gateway) -> list[dict[str, Any]]:
    """The sensitive-read events (lookups have lines of their own: test_lookup_limits.py)."""
    return [e for e in gateway.audit if e["type"] == "sensitive_read"]


def raw_values(raw: dict[str, Any]) -> list[str]:
    return [raw["ssn"], raw["dateOfBirth"], *raw["emails"], *(c["pan"] for c in raw["cards"])]


async def test_each_sensitive_read_is_audited_once_per_field_and_customer_without_values(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    raw = next(c for c in sample[50:] if len(c["cards"]) >= 2)
    gateway.audit.clear()
    body = await gateway.query(QUERY, {"id": raw["id"]}, headers={"x-request-id": "audit-1"})
    assert "errors" not in body
    events = {e["field"]: e for e in reads(gateway)}
    assert set(events) == {"Customer.ssn", "Card.pan", "Card.last4", "Customer.emails"}
    pan = events["Card.pan"]
    assert pan["values"] == len(raw["cards"])  # one event for every card of the customer
    assert (
        pan["class"] == "PCI_PAN"
        and pan["treatment"] == "bin_last4"
        and pan["outcome"] == "granted"
    )
    assert pan["customerId"] == raw["id"] and pan["subject"] == "analyst-0001"
    assert pan["roles"] == ["fraud_analyst"] and pan["operation"] == "ScreenPop"
    assert pan["clientRequestId"] == "audit-1" and pan["path"] == "customer.cards.0.pan"
    assert pan["requestId"] != "audit-1"  # the gateway's own: test_audit_integrity.py
    assert pan["time"].endswith("+00:00") and pan["interactionId"] is None
    text = str(gateway.audit)
    for value in raw_values(raw):
        assert value not in text


async def test_denials_are_audited_and_redactions_are_not(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    raw = sample[51]
    agent = await mint_token(gateway.sandbox, sub="agent-0007", roles=["agent"])
    gateway.audit.clear()
    await gateway.query(QUERY, {"id": raw["id"]}, token=agent)
    by_field = {e["field"]: e for e in reads(gateway)}
    assert by_field["Customer.ssn"]["outcome"] == "denied"
    assert by_field["Customer.ssn"]["treatment"] == "deny"
    assert "Customer.emails" not in by_field  # redacted for an unverified agent: nothing read
    developer = await mint_token(gateway.sandbox, sub="dev-0007", roles=["developer"])
    gateway.audit.clear()
    await gateway.query(QUERY, {"id": raw["id"]}, token=developer)
    assert reads(gateway) == []


async def test_one_event_per_customer_across_a_list(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    ids = [c["id"] for c in sample[52:57]]
    gateway.audit.clear()
    await gateway.query("query($ids: [ID!]!) { customers(ids: $ids) { ssn } }", {"ids": ids})
    assert sorted(e["customerId"] for e in reads(gateway)) == sorted(ids)
    assert all(e["values"] == 1 for e in reads(gateway))
