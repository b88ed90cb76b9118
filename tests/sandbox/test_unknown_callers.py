"""Callers the CCaaS system has no profile for: a simulated call (or live contact) from a phone,
and the households whose shared phone a test calls from (docs/sandbox.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sources.sandbox import running

AGENT = "agent-0042"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with running(customers=200) as url:  # no webhook URL: calls change states, post nothing
        yield url


def _contact(sandbox: str, contact_id: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = httpx.get(
        f"{sandbox}/ccaas/contacts", params={"id": contact_id}
    ).json()["Contacts"]
    assert len(found) == 1
    return found[0]


def test_households_share_a_phone_found_by_the_crm_search(sandbox: str) -> None:
    households = httpx.get(f"{sandbox}/_sandbox/households", params={"n": 5}).json()["households"]
    assert len(households) == 5
    for household in households:
        assert 2 <= len(household["customers"]) <= 3
        found = httpx.get(
            f"{sandbox}/crm/customers/search", params={"phone": household["phone"]}
        ).json()
        ids = {record["Id"] for record in found["records"]}
        assert ids == set(household["customers"])
    # a fixed order: a smaller n is a prefix
    first = httpx.get(f"{sandbox}/_sandbox/households", params={"n": 1}).json()["households"]
    assert first == households[:1]
    assert httpx.get(f"{sandbox}/_sandbox/households", params={"n": 0}).status_code == 400


@pytest.mark.parametrize("phone", ["+12025550123", "(202) 555-0123"])
def test_a_call_from_a_phone_has_no_profile_and_the_phone_as_its_ani(
    sandbox: str, phone: str
) -> None:
    body = {"phone": phone, "agentId": AGENT, "ringMs": 600_000}
    response = httpx.post(f"{sandbox}/_sandbox/calls", json=body)
    assert response.status_code == 201, response.text
    call = response.json()["interactionId"]
    contact = _contact(sandbox, call)
    assert contact["ProfileId"] is None
    assert contact["CustomerEndpoint"] == {"Address": phone}
    assert (contact["State"], contact["AgentId"]) == ("QUEUED", AGENT)
    ended = httpx.post(f"{sandbox}/_sandbox/calls/{call}/end")
    assert ended.status_code == 200
    assert _contact(sandbox, call)["State"] == "ENDED"


def test_a_live_contact_from_a_phone(sandbox: str) -> None:
    body = {"phone": "+12025550123", "agentId": AGENT, "idv": "PASSED"}
    made = httpx.post(f"{sandbox}/_sandbox/contacts", json=body)
    assert made.status_code == 200, made.text
    contact = _contact(sandbox, made.json()["id"])
    assert contact["ProfileId"] is None and contact["State"] == "CONNECTED"
    assert contact["IdvResult"] == "PASSED"


@pytest.mark.parametrize("route", ["calls", "contacts"])
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"phone": "+12025550123", "customerId": "003SB0000000000001"}, "not both"),
        ({"phone": 12025550123}, "phone"),
        ({"phone": "call me"}, "phone"),
        ({"phone": ""}, "phone"),
        ({}, "customerId"),
    ],
)
def test_bad_callers_get_clear_errors(
    sandbox: str, route: str, body: dict[str, Any], message: str
) -> None:
    response = httpx.post(f"{sandbox}/_sandbox/{route}", json={"agentId": AGENT, **body})
    assert response.status_code == 400
    assert message in response.json()["error"]
