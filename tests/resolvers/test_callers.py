"""Who is calling (resolvers/callers.py): a contact's profile names its customer; a caller the
CCaaS system has no profile for is found by the phone they call from, with the one phone rule
of `findCustomers` (normalisation included)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from resolvers import Loaders
from resolvers.callers import callers, profile_customer
from tests.sources.test_clients import CUSTOMER, open_sources

CONTACT = {
    "Id": "0b7a4c52-8a0e-4f7d-9a57-2f5a9d0f3e11",
    "ProfileId": "abc",
    "Channel": "VOICE",
    "InitiationMethod": "INBOUND",
    "InitiationTimestamp": "2026-12-06T07:00:00Z",
    "DisconnectTimestamp": None,
    "State": "QUEUED",
    "QueueName": "General",
    "AgentId": "agent-1",
    "Intent": "balance_inquiry",
    "Summary": "Live contact.",
    "Disposition": None,
    "IdvResult": "NOT_ATTEMPTED",
    "CustomerEndpoint": {"Address": "(202) 555-0143"},
    "PreviousContactId": None,
}
SIBLING = {**CUSTOMER, "Id": "003SB0000000000002", "CcaasProfile__c": "def"}


class Crm:
    """A CCaaS answering `contact` and a CRM whose phone search finds a household of two
    (and whose profile lookup finds `linked`); records what was asked."""

    def __init__(self, contact: dict[str, Any], linked: list[dict[str, Any]]) -> None:
        self.contact = contact
        self.linked = linked
        self.asked: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(f"{request.url.path}?{request.url.query.decode()}")
        if request.url.path == "/ccaas/contacts":
            return httpx.Response(200, json={"Contacts": [self.contact]})
        if request.url.path == "/crm/customers/search":
            return httpx.Response(200, json={"records": [CUSTOMER, SIBLING]})
        return httpx.Response(200, json={"records": self.linked})


async def _callers(contact: dict[str, Any], linked: list[dict[str, Any]]) -> tuple[Any, Crm]:
    crm = Crm(contact, linked)
    sources = open_sources(crm)
    try:
        loaders = Loaders(sources)
        found = await loaders.contact.load(contact["Id"])
        assert found is not None
        return (found, await callers(loaders, found), await profile_customer(loaders, found)), crm
    finally:
        await sources.aclose()


@pytest.mark.parametrize("no_profile", [None, "", "absent"])
async def test_a_contact_without_a_profile_is_found_by_its_ani(no_profile: str | None) -> None:
    contact = {**CONTACT, "ProfileId": no_profile}
    if no_profile == "absent":
        del contact["ProfileId"]
    (found, customers, linked), crm = await _callers(contact, [])
    assert found.profile_id is None  # null, "" or absent: no profile, never a key
    assert linked is None
    assert [c.id for c in customers] == ["003SB0000000000001", "003SB0000000000002"]
    # normalised like findCustomers(phone:): the national ANI is searched as E.164
    assert asked_paths(crm) == ["/ccaas/contacts", "/crm/customers/search"]
    assert "phone=%2B12025550143" in crm.asked[-1]


async def test_a_profile_linked_to_a_customer_names_that_customer_only() -> None:
    (_, customers, linked), crm = await _callers(CONTACT, [CUSTOMER])
    assert [c.id for c in customers] == ["003SB0000000000001"]
    assert linked is not None and linked.id == "003SB0000000000001"
    assert "/crm/customers/search" not in asked_paths(crm)


async def test_a_profile_no_customer_links_falls_back_to_the_phone() -> None:
    (_, customers, linked), _ = await _callers(CONTACT, [])
    assert linked is None
    assert len(customers) == 2


@pytest.mark.parametrize("ani", [None, "anonymous", "+0"])
async def test_a_withheld_or_malformed_ani_finds_nobody(ani: str | None) -> None:
    endpoint = None if ani is None else {"Address": ani}
    contact = {**CONTACT, "ProfileId": None, "CustomerEndpoint": endpoint}
    (_, customers, _), crm = await _callers(contact, [])
    assert customers == ()
    assert asked_paths(crm) == ["/ccaas/contacts"]  # no search for a number that is nobody's


def asked_paths(crm: Crm) -> list[str]:
    return [asked.split("?")[0] for asked in crm.asked]
