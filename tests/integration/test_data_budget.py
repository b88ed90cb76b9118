"""The data budget (issue #12 item 3): `customers(ids:)` with 1,000 ids must not copy the
customer base. Per (issuer, subject) and window, sensitive fields are returned for at most N
distinct customers; past that they are null with DATA_BUDGET_EXCEEDED, the rest of each customer
still answers, and one alert line goes to the audit trail."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from sources.sandbox.client import mint_token, sample_customers

from .budgeted import PARTNER, own_gateway
from .conftest import Gateway

BUDGET = 25
LIMITS = {
    "data_budget": {"customers": 5, "roles": {"supervisor": BUDGET, "agent": 5}},
    "lookups": {"enabled": False},
}
QUERY = "query($ids: [ID!]!) { customers(ids: $ids) { id fullName dateOfBirth ssn } }"


@pytest.fixture(scope="module")
def ids(sandbox_url: str) -> list[str]:
    customers = asyncio.run(sample_customers(sandbox_url, 1_000))
    return [c["id"] for c in customers]


@pytest.fixture(scope="module", params=["compiled", "standard"])
def budgeted(request: pytest.FixtureRequest, sandbox_url: str) -> Iterator[Gateway]:
    with own_gateway(sandbox_url, LIMITS, execution=request.param) as gateway:
        yield gateway


def shown(body: dict[str, Any]) -> list[str]:
    """The ids of the customers whose sensitive fields came back."""
    return [c["id"] for c in body["data"]["customers"] if c["dateOfBirth"] is not None]


def refused(body: dict[str, Any]) -> list[tuple[int, str]]:
    """(index, field) of every DATA_BUDGET_EXCEEDED error."""
    return sorted(
        (e["path"][1], e["path"][2])
        for e in body.get("errors", ())
        if e["extensions"]["code"] == "DATA_BUDGET_EXCEEDED"
    )


async def test_a_supervisor_copying_a_thousand_customers_gets_the_budget_and_no_more(
    budgeted: Gateway, ids: list[str]
) -> None:
    assert len(ids) == 1_000
    sub = f"supervisor-bulk-{id(budgeted)}"
    token = await mint_token(budgeted.sandbox, sub=sub, roles=["supervisor"])
    budgeted.audit.clear()
    body = await budgeted.query(QUERY, {"ids": ids}, token=token)
    assert shown(body) == ids[:BUDGET]
    # every other customer still answers, without its sensitive fields
    customers = body["data"]["customers"]
    assert [c["id"] for c in customers] == ids and all(c["fullName"] for c in customers)
    assert all(c["ssn"] is None and c["dateOfBirth"] is None for c in customers[BUDGET:])
    assert refused(body) == sorted(
        (i, f) for i in range(BUDGET, 1_000) for f in ("dateOfBirth", "ssn")
    )
    alerts = [e for e in budgeted.audit if e["type"] == "data_budget_exceeded"]
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["subject"] == sub and alert["limit"] == BUDGET and alert["customers"] == BUDGET
    assert alert["windowSeconds"] == 3600 and alert["windowStart"].endswith(":00:00+00:00")
    assert "customerId" not in alert and alert["requestId"] and alert["issuer"]
    denied = [e for e in budgeted.audit if e.get("refusal") == "DATA_BUDGET_EXCEEDED"]
    assert len(denied) == 2 * (1_000 - BUDGET) and all(e["outcome"] == "denied" for e in denied)

    # a second request continues the count: the customers already counted still answer, a
    # new one does not, and the alert is not repeated within the window
    budgeted.audit.clear()
    again = await budgeted.query(QUERY, {"ids": [ids[0], ids[500]]}, token=token)
    assert shown(again) == [ids[0]]
    assert refused(again) == [(1, "dateOfBirth"), (1, "ssn")]
    assert not [e for e in budgeted.audit if e["type"] == "data_budget_exceeded"]


async def test_the_budget_is_per_issuer_and_subject(budgeted: Gateway, ids: list[str]) -> None:
    sub = f"supervisor-shared-{id(budgeted)}"
    first = await mint_token(budgeted.sandbox, sub=sub, roles=["supervisor"])
    await budgeted.query(QUERY, {"ids": ids[:100]}, token=first)
    other = await mint_token(budgeted.sandbox, sub=sub + "-other", roles=["supervisor"])
    partner = await mint_token(budgeted.sandbox, sub=sub, roles=["supervisor"], iss=PARTNER)
    for token in (other, partner):
        body = await budgeted.query(QUERY, {"ids": ids[100:200]}, token=token)
        assert shown(body) == ids[100 : 100 + BUDGET]


async def test_redacted_and_denied_fields_do_not_count(budgeted: Gateway, ids: list[str]) -> None:
    """An unverified agent's email is redacted and its date of birth denied: nothing revealed,
    nothing counted; its phone's last 4 is, and counts."""
    agent = await mint_token(budgeted.sandbox, sub=f"agent-{id(budgeted)}", roles=["agent"])
    quiet = "query($ids: [ID!]!) { customers(ids: $ids) { id emails dateOfBirth } }"
    body = await budgeted.query(quiet, {"ids": ids[:50]}, token=agent)
    assert not refused(body)
    developer = await mint_token(budgeted.sandbox, sub=f"dev-{id(budgeted)}", roles=["developer"])
    phones = "query($ids: [ID!]!) { customers(ids: $ids) { id phones { number } } }"
    body = await budgeted.query(phones, {"ids": ids[:50]}, token=developer)
    assert not refused(body)  # developer: redact only
    body = await budgeted.query(phones, {"ids": ids[:10]}, token=agent)
    assert len({i for i, _ in refused(body)}) == 10 - 5
