"""Vendor payloads -> canonical CloudEvents (gateway/events/mapping.py), per EVENTS-CONTRACT.md."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.events.mapping import CloudEvent, MappingError, map_payload
from tests.events.payloads import AGENT, CONTACT, case_change, connect, core


def _one(system: str, payload: Any) -> CloudEvent:
    events = map_payload(system, payload)
    assert len(events) == 1
    return events[0]


@pytest.mark.parametrize(
    ("event_type", "canonical"),
    [
        ("INITIATED", "interaction.offered"),
        ("CONNECTED_TO_AGENT", "interaction.connected"),
        ("DISCONNECTED", "interaction.ended"),
        ("COMPLETED", "interaction.completed"),
    ],
)
def test_connect_contact_events_map_to_interaction_events(event_type: str, canonical: str) -> None:
    payload = connect(event_type, event_id="7d2c2e7a-0b7e-4c38-8a57-1f1f4f0b9a11")
    event = _one("ccaas", payload)
    assert event.type == canonical
    assert event.id == "7d2c2e7a-0b7e-4c38-8a57-1f1f4f0b9a11"  # stable: the vendor's id
    assert event.source == "switchboard/ccaas"
    assert event.subject == CONTACT
    assert event.time == "2026-12-06T02:40:00Z"
    expected = {"interactionId": CONTACT}
    if event_type != "INITIATED":
        expected["agentId"] = AGENT
    assert dict(event.data) == expected


def test_a_passed_idv_is_customer_verified() -> None:
    event = _one("ccaas", connect("CONTACT_DATA_UPDATED", idv="PASSED"))
    assert event.type == "customer.verified"
    assert dict(event.data) == {"interactionId": CONTACT, "agentId": AGENT, "idv": "PASSED"}


@pytest.mark.parametrize("idv", ["FAILED", "NOT_ATTEMPTED", None])
def test_other_contact_data_updates_have_no_canonical_event(idv: str | None) -> None:
    assert map_payload("ccaas", connect("CONTACT_DATA_UPDATED", idv=idv)) == ()


def test_the_envelope_is_cloudevents_json_with_ids_and_states_only() -> None:
    event = _one("ccaas", connect("CONTACT_DATA_UPDATED", idv="PASSED"))
    body = orjson.loads(event.to_json())
    assert body == {
        "specversion": "1.0",
        "id": event.id,
        "source": "switchboard/ccaas",
        "type": "customer.verified",
        "time": "2026-12-06T02:40:00Z",
        "subject": CONTACT,
        "datacontenttype": "application/json",
        "data": {"interactionId": CONTACT, "agentId": AGENT, "idv": "PASSED"},
    }
    with pytest.raises(AttributeError):
        event.type = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("change", "canonical"), [("CREATE", "case.created"), ("UPDATE", "case.updated")]
)
def test_a_case_change_event_maps_to_a_case_event(change: str, canonical: str) -> None:
    event = _one("crm", case_change(change, key="0002f3a1-aaaa-bbbb-cccc-000000000001"))
    assert event.type == canonical
    assert event.id == "0002f3a1-aaaa-bbbb-cccc-000000000001:500Hs00001XyZaBIAV"
    assert event.subject == "500Hs00001XyZaBIAV"
    assert event.time == "2025-12-06T05:46:40Z"
    # ids only: the case's Status and other fields stay in the CRM
    assert dict(event.data) == {"caseId": "500Hs00001XyZaBIAV", "customerId": "CUST-000123"}


@pytest.mark.parametrize(
    ("event_type", "canonical"),
    [("PAYMENT_POSTED", "payment.posted"), ("FRAUD_ALERT", "fraud.alert_raised")],
)
def test_core_events_map(event_type: str, canonical: str) -> None:
    event = _one("core", core(event_type, event_id="e-1"))
    assert (event.type, event.id, event.subject) == (canonical, "e-1", "P-0000123")
    assert event.time == "2026-12-06T02:40:00Z"  # normalised to UTC
    assert dict(event.data) == {"partyId": "P-0000123", "referenceId": "PAY-778"}


@pytest.mark.parametrize(
    ("system", "payload"),
    [
        ("ccaas", connect("QUEUED")),
        ("ccaas", {**connect("INITIATED"), "detail-type": "Amazon Connect Agent Event"}),
        ("crm", case_change("DELETE")),
        ("crm", case_change("UPDATE", entity="Account")),
        ("core", core("STATEMENT_READY")),
    ],
)
def test_unknown_types_map_to_nothing(system: str, payload: Any) -> None:
    assert map_payload(system, payload) == ()


def _without(payload: Any, *path: str) -> Any:
    table = payload
    for key in path[:-1]:
        table = table[key]
    del table[path[-1]]
    return payload


def _with(payload: Any, value: Any, *path: str) -> Any:
    table = payload
    for key in path[:-1]:
        table = table[key]
    table[path[-1]] = value
    return payload


@pytest.mark.parametrize(
    ("system", "payload", "named"),
    [
        ("ccaas", [], "JSON object"),
        ("ccaas", _without(connect("INITIATED"), "detail"), "detail"),
        ("ccaas", _without(connect("INITIATED"), "detail", "contactId"), "contactId"),
        ("ccaas", _with(connect("INITIATED"), "x y <b>", "detail", "contactId"), "contactId"),
        ("ccaas", _with(connect("INITIATED"), "yesterday", "time"), "time"),
        ("ccaas", _with(connect("INITIATED"), "2026-12-06T02:40:00", "time"), "time"),
        (
            "ccaas",
            _with(connect("COMPLETED"), {"agentArn": "nope"}, "detail", "agentInfo"),
            "agentArn",
        ),
        ("ccaas", connect("CONTACT_DATA_UPDATED", idv="MAYBE"), "idv"),
        ("crm", _without(case_change(), "payload", "ChangeEventHeader"), "ChangeEventHeader"),
        (
            "crm",
            _with(case_change(), "soon", "payload", "ChangeEventHeader", "commitTimestamp"),
            "commitTimestamp",
        ),
        ("crm", _with(case_change(), [], "payload", "ChangeEventHeader", "recordIds"), "recordIds"),
        ("core", _without(core(), "partyId"), "partyId"),
        ("core", _with(core(), 7, "eventType"), "eventType"),
    ],
)
def test_a_malformed_payload_is_a_mapping_error_naming_the_field(
    system: str, payload: Any, named: str
) -> None:
    with pytest.raises(MappingError) as caught:
        map_payload(system, payload)
    assert named in str(caught.value)
