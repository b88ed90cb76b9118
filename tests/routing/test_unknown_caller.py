"""`routingContext(interactionId:)` for a caller the CCaaS system has no profile for: the same
customers the agent's screen pop gets (resolvers/callers.py `callers`: the phone lookup of the
contact's ANI), so a contact flow routes a household's call as a household and a known phone's
call as that customer — never as an unknown caller. Over real sockets against the sandbox
(`POST /_sandbox/calls` with `phone`)."""

from __future__ import annotations

from typing import Any

from gateway.routing import ROUTING_DOCUMENT
from sources.sandbox.client import end_call, households, start_call

from .conftest import Gateway

AGENT = "agent-0077"


async def _context(gateway: Gateway, **key: str) -> dict[str, Any]:
    body = await gateway.graphql(ROUTING_DOCUMENT, key, gateway.ivr)
    assert "errors" not in body, body
    context: dict[str, Any] = body["data"]["routingContext"]
    return context


async def _call_from(gateway: Gateway, phone: str) -> str:
    return await start_call(gateway.sandbox, None, AGENT, phone=phone, ring_ms=0)


async def test_a_call_from_a_household_phone_routes_as_the_household(gateway: Gateway) -> None:
    [household] = await households(gateway.sandbox, 1)
    call = await _call_from(gateway, household["phone"])
    try:
        by_call = await _context(gateway, interactionId=call)
        by_phone = await _context(gateway, phone=household["phone"])
    finally:
        await end_call(gateway.sandbox, call)
    assert by_call["matches"] == len(household["customers"]) >= 2
    assert by_call == by_phone
    assert (by_call["rule"], by_call["reason"]) == ("household", "IDENTIFY_HOUSEHOLD_MEMBER")


async def test_a_call_from_one_customers_phone_routes_as_that_customer(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    by_phone: dict[str, set[str]] = {}
    for c in sample:
        for phone in c["phones"]:
            by_phone.setdefault(phone, set()).add(c["id"])
    phone, [customer] = next((p, list(ids)) for p, ids in by_phone.items() if len(ids) == 1)
    call = await _call_from(gateway, phone)
    try:
        by_call = await _context(gateway, interactionId=call)
        expected = await _context(gateway, phone=phone)
    finally:
        await end_call(gateway.sandbox, call)
    assert by_call["matches"] == 1 and by_call["customerId"] == customer
    assert by_call == expected


async def test_a_call_from_nobodys_phone_matches_no_one(gateway: Gateway) -> None:
    call = await _call_from(gateway, "+12024561111")
    try:
        context = await _context(gateway, interactionId=call)
    finally:
        await end_call(gateway.sandbox, call)
    assert context["matches"] == 0 and context["degraded"] == []
    assert context["rule"] == "unknown-caller"
