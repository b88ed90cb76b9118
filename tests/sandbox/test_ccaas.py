from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from .support import ANCHOR


def _contacts(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    contacts: list[dict[str, Any]] = response.json()["Contacts"]
    return contacts


def _profiles(client: httpx.Client, sample: list[dict[str, Any]]) -> list[str]:
    ids = [customer["id"] for customer in sample]
    records = client.get("/crm/customers", params={"id": ids[:200]}).json()["records"]
    return [record["CcaasProfile__c"] for record in records]


def _when(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


def test_contacts_by_profile_are_newest_first_and_limited(
    client: httpx.Client, sample: list[dict[str, Any]]
) -> None:
    profiles = _profiles(client, sample)
    few = _contacts(client.get("/ccaas/contacts", params={"profileId": profiles, "perProfile": 2}))
    many = _contacts(
        client.get("/ccaas/contacts", params={"profileId": profiles, "perProfile": 50})
    )
    grouped: dict[str, list[dict[str, Any]]] = {}
    for contact in many:
        grouped.setdefault(contact["ProfileId"], []).append(contact)
    assert max(len(group) for group in grouped.values()) > 2
    assert all(len(group) <= 20 for group in grouped.values())
    for group in grouped.values():
        times = [contact["InitiationTimestamp"] for contact in group]
        assert times == sorted(times, reverse=True)
        for contact in group:
            assert (contact["AgentId"] is None) == (contact["Channel"] in ("IVR", "BOT"))
    newest = [c for group in grouped.values() for c in group[:2]]
    assert sorted(c["Id"] for c in few) == sorted(c["Id"] for c in newest)


def test_some_profiles_have_a_repeat_contact_within_seven_days(
    client: httpx.Client, sample: list[dict[str, Any]]
) -> None:
    profiles = _profiles(client, sample)
    contacts = _contacts(
        client.get("/ccaas/contacts", params={"profileId": profiles, "perProfile": 50})
    )
    recent: dict[tuple[str, str], int] = {}
    week_ago = ANCHOR.replace(tzinfo=None) - timedelta(days=7)
    for contact in contacts:
        if _when(contact["InitiationTimestamp"]) >= week_ago:
            key = (contact["ProfileId"], contact["Intent"])
            recent[key] = recent.get(key, 0) + 1
    assert sum(1 for count in recent.values() if count >= 2) >= 3


def test_contacts_by_id_round_trip_and_drop_unknown(
    client: httpx.Client, sample: list[dict[str, Any]]
) -> None:
    profiles = _profiles(client, sample)
    contacts = _contacts(client.get("/ccaas/contacts", params={"profileId": profiles[:50]}))
    ids = [contact["Id"] for contact in contacts[:30]]
    asked = [*ids, ids[0], "00000000-0000-4000-8000-000000000000", "nonsense"]
    found = _contacts(client.get("/ccaas/contacts", params={"id": asked}))
    assert sorted(contact["Id"] for contact in found) == sorted(ids)
    assert [contact["Id"] for contact in found] != ids
    assert {c["Id"]: c for c in found} == {c["Id"]: c for c in contacts[:30]}


def test_contacts_reject_bad_input(client: httpx.Client) -> None:
    for params in (
        {"id": "a", "profileId": "b"},
        {},
        {"profileId": "b", "perProfile": "51"},
        {"profileId": "b", "perProfile": "many"},
        {"profileId": [f"p{n}" for n in range(201)]},
    ):
        assert client.get("/ccaas/contacts", params=params).status_code == 400, params


def test_live_contact_is_newest_for_the_profile_and_found_by_id(
    client: httpx.Client, sample: list[dict[str, Any]]
) -> None:
    customer = sample[-1]
    profile = _profiles(client, [customer])[0]
    created = client.post(
        "/_sandbox/contacts",
        json={
            "customerId": customer["id"],
            "agentId": "agent-042",
            "idv": "PASSED",
            "channel": "VOICE",
        },
    )
    assert created.status_code == 200, created.text
    contact_id = created.json()["id"]
    newest = _contacts(
        client.get("/ccaas/contacts", params={"profileId": profile, "perProfile": 1})
    )
    by_id = _contacts(client.get("/ccaas/contacts", params={"id": contact_id}))
    assert newest == by_id
    live = by_id[0]
    assert live["Id"] == contact_id
    assert live["State"] == "CONNECTED"
    assert live["DisconnectTimestamp"] is None
    assert live["AgentId"] == "agent-042"
    assert live["IdvResult"] == "PASSED"
    assert live["CustomerEndpoint"]["Address"] in customer["phones"]
    bad = client.post("/_sandbox/contacts", json={"customerId": "nobody", "agentId": "a"})
    assert bad.status_code == 400
