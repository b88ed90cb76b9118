"""`routingContext` on both executions: the same answer, back-end calls and audit trail for
every role and kind of key (one customer, a household, nobody, a customer id, an interaction,
the interaction of a caller the CCaaS system has no profile for: its ANI's customers), and with
a system down or slower than the routing deadline."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.routing import ROUTING_DOCUMENT
from sources.sandbox.client import households, set_fault, start_contact

from .conftest import ROLES, Pair, assert_same


def _keys(pair: Pair) -> dict[str, dict[str, str]]:
    by_phone: dict[str, set[str]] = {}
    for c in pair.sample:
        for phone in c["phones"]:
            by_phone.setdefault(phone, set()).add(c["id"])
    household = max(by_phone, key=lambda p: len(by_phone[p]))
    return {
        "phone": {"phone": pair.sample[0]["phones"][0]},
        "household": {"phone": household},
        "nobody": {"phone": "+12025550199"},
        "customerId": {"customerId": pair.sample[1]["id"]},
        "interactionId": {"interactionId": pair.interaction["agent"]},
    }


async def _same(pair: Pair, variables: dict[str, Any], role: str, what: object) -> dict[str, Any]:
    payload = {"query": ROUTING_DOCUMENT, "variables": variables}
    async with httpx.AsyncClient(timeout=30) as http:
        compiled, standard = await pair.both(
            http, payload, pair.headers(role, verified=False), count_calls=True
        )
    assert compiled.status == 200 and compiled.body["data"]["routingContext"], what
    assert_same(compiled, standard, what)
    context: dict[str, Any] = compiled.body["data"]["routingContext"]
    return context


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", ["phone", "household", "nobody", "customerId", "interactionId"])
async def test_routing_context_answers_the_same(pair: Pair, role: str, key: str) -> None:
    await _same(pair, _keys(pair)[key], role, (key, role))


@pytest.mark.parametrize("role", ["ivr", "agent"])
@pytest.mark.parametrize("caller", ["household", "nobody"])
async def test_an_unknown_callers_interaction_answers_the_same(
    pair: Pair, role: str, caller: str
) -> None:
    """No CCaaS profile: the customers of the contact's ANI (resolvers/callers.py), on both."""
    phone, members = "+12024561111", []  # nobody's number
    if caller == "household":
        [household] = await households(pair.sandbox, 1)
        phone, members = household["phone"], household["customers"]
    call = await start_contact(pair.sandbox, agent_id="agent-0077", phone=phone)
    context = await _same(pair, {"interactionId": call}, role, (caller, role))
    assert context["matches"] == len(members)


FAULTS = [
    ("core", {"mode": "down"}),
    ("crm", {"mode": "down"}),
    ("ccaas", {"latency_ms": 3000.0}),
]  # past the deadline (conftest.py)


@pytest.mark.parametrize(("system", "switches"), FAULTS, ids=[s for s, _ in FAULTS])
async def test_a_degraded_routing_context_answers_the_same(
    pair: Pair, system: str, switches: dict[str, Any]
) -> None:
    await set_fault(pair.sandbox, system, **switches)
    try:
        await _same(pair, _keys(pair)["phone"], "ivr", (system, switches))
    finally:
        await set_fault(pair.sandbox, system, mode="ok", latency_ms=0, error_rate=0.0)
