"""Screen pops of callers the CCaaS system does not know, over real sockets: the sandbox's
simulated call from a phone (no CCaaS profile, the phone as ANI) pops with the customers the
phone finds, the household sharing it as a choice, every one unverified whatever the contact's
ID&V says; a number nobody has pops with none; a customer's own profile call is unchanged."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sources.sandbox.client import end_call, households, reset_stats, start_call
from tests.events.sockets import Servers, frames, open_socket, serving, subscribe, until

POP = """subscription {
  screenPops {
    event
    interaction { id agentId idvResult customer { id } }
    customers { id fullName dateOfBirth ssn phones { number } }
  }
}"""
NOBODY = "+12024561111"  # every sandbox phone is +1 NPA 555 XXXX (docs/sandbox.md)


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    with serving() as found:
        yield found


def _national(e164: str) -> str:
    """ "+12025550143" as an agent or a carrier might write it: "(202) 555-0143"."""
    digits = e164.removeprefix("+1")
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


def _raw(servers: Servers, ids: list[str]) -> list[dict[str, Any]]:
    """The household's raw records, straight from the sandbox CRM."""
    answer = httpx.get(f"{servers.sandbox}/crm/customers", params={"id": ids}).json()
    records: list[dict[str, Any]] = answer["records"]
    assert len(records) == len(ids)
    return records


def _pops(
    servers: Servers, agent: str, n: int, **call: Any
) -> tuple[list[dict[str, Any]], str, dict[str, int]]:
    """Subscribe as `agent`, place a call to them and read its first `n` frames; the back-end
    calls made for them."""
    return asyncio.run(_popped(servers, servers.token(agent), agent, n, **call))


async def _popped(
    servers: Servers, token: str, agent: str, n: int, **call: Any
) -> tuple[list[dict[str, Any]], str, dict[str, int]]:
    ws = await open_socket(servers.ws, token)
    await subscribe(ws, POP, {}, "1")
    await until(lambda: servers.subscribers >= 1)
    await reset_stats(servers.sandbox)
    interaction = await start_call(servers.sandbox, agent_id=agent, ring_ms=0, **call)
    popped = await frames(ws, n)
    calls = await servers.calls()
    await end_call(servers.sandbox, interaction)
    await ws.close()
    await until(lambda: servers.subscribers == 0)
    return popped, interaction, calls


def test_a_household_call_pops_every_member_masked_even_after_idv(servers: Servers) -> None:
    """The attacker's view: a caller the CCaaS system does not know passes ID&V (any caller can
    claim to be anyone sharing a phone): the contact is verified, but no member of the
    household is, on any frame, until the agent links a profile."""
    household = asyncio.run(households(servers.sandbox, 1))[0]
    members = household["customers"]

    popped, interaction, calls = _pops(
        servers,
        "agent-0301",
        3,
        customer_id=None,
        phone=_national(household["phone"]),  # normalised like findCustomers(phone:)
        idv="PASSED",
        idv_after_ms=0,
    )
    pops = [f["payload"]["data"]["screenPops"] for f in popped]
    assert [p["event"] for p in pops] == ["OFFERED", "CONNECTED", "VERIFIED"]
    assert 2 <= len(members) <= 3
    for pop in pops:
        assert pop["interaction"]["id"] == interaction
        assert pop["interaction"]["customer"] is None  # no profile: nobody linked yet
        assert sorted(c["id"] for c in pop["customers"]) == sorted(members)
        assert all(c["dateOfBirth"] is None for c in pop["customers"])  # denied unverified
    assert pops[2]["interaction"]["idvResult"] == "PASSED"
    verification = popped[2]["payload"]["extensions"]["verification"]
    assert verification["status"] == "not_verified" and verification["reason"] == "no_profile"
    denied = [e for e in popped[2]["payload"]["errors"] if e["path"][-1] == "dateOfBirth"]
    assert len(denied) == len(members)
    assert all(e["extensions"]["code"] == "FORBIDDEN_FIELD" for e in denied)
    # no raw date of birth or SSN of any member in any frame
    text = json.dumps(popped)
    for record in _raw(servers, members):
        assert record["Birthdate"] not in text and record["SSN__c"] not in text
    # the phone was looked up once, at OFFERED: CONNECTED and VERIFIED reused the kept context
    assert calls["crm GET /customers/search"] == 1
    assert "crm GET /customers" not in calls  # no profile: no lookup by profile either


def test_a_number_nobody_has_pops_with_no_customer(servers: Servers) -> None:
    popped, interaction, _ = _pops(
        servers, "agent-0302", 2, customer_id=None, phone=NOBODY, idv_after_ms=600_000
    )
    pops = [f["payload"]["data"]["screenPops"] for f in popped]
    assert [p["event"] for p in pops] == ["OFFERED", "CONNECTED"]
    assert all(p["customers"] == [] for p in pops)
    assert all(p["interaction"]["id"] == interaction for p in pops)
    assert all("errors" not in f["payload"] for f in popped)


def test_a_household_members_own_profile_call_pops_that_member_verified(
    servers: Servers,
) -> None:
    """Unchanged for a caller the CCaaS system knows: the profile's customer alone (not the
    household sharing their phone), verified once ID&V passes (a while after the call
    connects: the first two pops are read before it)."""
    member = asyncio.run(households(servers.sandbox, 1))[0]["customers"][0]

    popped, _, calls = _pops(
        servers, "agent-0303", 3, customer_id=member, idv="PASSED", idv_after_ms=1500
    )
    pops = [f["payload"]["data"]["screenPops"] for f in popped]
    assert [p["event"] for p in pops] == ["OFFERED", "CONNECTED", "VERIFIED"]
    assert all([c["id"] for c in p["customers"]] == [member] for p in pops)
    assert pops[0]["customers"][0]["dateOfBirth"] is None
    assert pops[2]["customers"][0]["dateOfBirth"] == _raw(servers, [member])[0]["Birthdate"]
    assert popped[2]["payload"]["extensions"]["verification"]["status"] == "verified"
    assert "crm GET /customers/search" not in calls  # the profile names the customer
