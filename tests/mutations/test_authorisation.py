"""Who may write (gateway/writes/api.py): agents and collections on their own contacts and their
customers' cases, supervisors on any, nobody else — every rule keyed by (issuer, subject)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.mutations.conftest import Writer

DISPOSE = """mutation ($input: RecordDispositionInput!) {
  recordDisposition(input: $input) { writeId status recordId code message }
}"""
NOTE = """mutation ($input: AddCaseNoteInput!) {
  addCaseNote(input: $input) { writeId status recordId }
}"""
CREATE = """mutation ($input: CreateCaseInput!) {
  createCase(input: $input) { writeId status recordId }
}"""
CASES = "query ($id: ID!) { customer(id: $id) { cases { id } } }"


def _key() -> str:
    return str(uuid.uuid4())


def _dispose(
    writer: Writer, token: str, contact: str, **headers: str
) -> tuple[dict[str, Any] | None, list[str]]:
    variables = {
        "input": {
            "interactionId": contact,
            "code": "RESOLVED",
            "note": "Customer asked about a late fee; waived.",
            "idempotencyKey": _key(),
        }
    }
    body = writer.post(DISPOSE, variables, token, **headers)
    data = body["data"]
    return (
        None if data is None else data["recordDisposition"],
        [e["extensions"]["code"] for e in body.get("errors", [])],
    )


def _codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def test_an_agent_dispositions_their_own_contact(writer: Writer) -> None:
    customer = writer.customers[0]
    contact = writer.contact(customer, "agent-0301")
    result, errors = _dispose(writer, writer.token("agent-0301", ["agent"]), contact)
    assert errors == []
    assert result is not None and result["status"] == "APPLIED"
    assert result["writeId"].startswith("w_") and result["recordId"]
    intent = writer.writes.intents[-1]
    assert intent.operation == "recordDisposition" and intent.crm_object == "Task"
    assert intent.target == contact
    assert (intent.issuer, intent.subject) == (f"{writer.sandbox}/idp", "agent-0301")
    # the customer is named by the key the CRM keys them by, for the CRM to resolve on delivery
    profile = httpx.get(f"{writer.sandbox}/crm/customers", params={"id": customer["id"]})
    assert intent.fields == {
        "InteractionId__c": contact,
        "Who.CcaasProfile__c": profile.json()["records"][0]["CcaasProfile__c"],
        "CallDisposition": "RESOLVED",
        "Description": "Customer asked about a late fee; waived.",
        "OwnerId": "agent-0301",
    }


def test_collections_dispositions_their_own_contact(writer: Writer) -> None:
    contact = writer.contact(writer.customers[1], "agent-0302")
    result, errors = _dispose(writer, writer.token("agent-0302", ["collections"]), contact)
    assert errors == [] and result is not None and result["status"] == "APPLIED"


def test_an_agent_may_not_disposition_another_agents_contact(writer: Writer) -> None:
    contact = writer.contact(writer.customers[2], "agent-0303")
    before = len(writer.writes.intents)
    result, errors = _dispose(writer, writer.token("agent-0304", ["agent"]), contact)
    assert (result, errors) == (None, ["FORBIDDEN"])
    assert len(writer.writes.intents) == before


def test_a_supervisor_dispositions_any_contact(writer: Writer) -> None:
    contact = writer.contact(writer.customers[3], "agent-0305")
    result, errors = _dispose(writer, writer.token("sup-0001", ["supervisor"]), contact)
    assert errors == [] and result is not None and result["status"] == "APPLIED"
    assert writer.writes.intents[-1].fields["OwnerId"] == "sup-0001"


@pytest.mark.parametrize(
    "roles",
    [
        ["ivr"],
        ["developer"],
        ["fraud_analyst"],
        ["agent", "ivr"],  # a bot token that also claims agent is still a bot's
        ["supervisor", "developer"],
    ],
)
def test_roles_that_never_write_are_forbidden_even_on_their_own_contact(
    writer: Writer, roles: list[str]
) -> None:
    contact = writer.contact(writer.customers[4], "agent-0306")
    before = len(writer.writes.intents)
    writer.audit.clear()
    result, errors = _dispose(writer, writer.token("agent-0306", roles), contact)
    assert (result, errors) == (None, ["FORBIDDEN"])
    assert len(writer.writes.intents) == before
    refused = [e for e in writer.audit if e["type"] == "write_refused"]
    assert [(e["operation"], e["code"], e["subject"]) for e in refused] == [
        ("recordDisposition", "FORBIDDEN", "agent-0306")
    ]


def test_a_partner_issuers_token_with_the_agents_sub_may_not_write(writer: Writer) -> None:
    """A partner IdP may mint any `sub`: its "agent-0307" is not the CCaaS agent."""
    contact = writer.contact(writer.customers[5], "agent-0307")
    forged = writer.token("agent-0307", ["agent"], partner=True)
    result, errors = _dispose(writer, forged, contact)
    assert (result, errors) == (None, ["FORBIDDEN"])


def _cases(writer: Writer, customer: dict[str, Any]) -> list[str]:
    token = writer.token("sup-0002", ["supervisor"])
    body = writer.post(CASES, {"id": customer["id"]}, token)
    return [c["id"] for c in body["data"]["customer"]["cases"]]


def _with_cases(writer: Writer, n: int) -> list[dict[str, Any]]:
    found = [c for c in writer.customers[10:] if _cases(writer, c)]
    assert len(found) >= n
    return found[:n]


def _note(case_id: str) -> dict[str, Any]:
    return {
        "input": {"caseId": case_id, "note": "Called back as promised.", "idempotencyKey": _key()}
    }


def test_an_agent_adds_a_note_to_a_case_of_their_contacts_customer(writer: Writer) -> None:
    customer = _with_cases(writer, 1)[0]
    case = _cases(writer, customer)[0]
    contact = writer.contact(customer, "agent-0310")
    token = writer.token("agent-0310", ["agent"])
    body = writer.post(NOTE, _note(case), token, x_interaction_id=contact)
    assert _codes(body) == [] and body["data"]["addCaseNote"]["status"] == "APPLIED"
    intent = writer.writes.intents[-1]
    assert (intent.crm_object, intent.target) == ("CaseComment", case)
    assert intent.customer_id == customer["id"]  # its event reaches the customer's journey
    assert intent.fields == {
        "ParentId": case,
        "CommentBody": "Called back as promised.",
        "CreatedById": "agent-0310",
    }


def test_a_case_note_needs_the_agents_own_contact_with_that_cases_customer(
    writer: Writer,
) -> None:
    mine, other = _with_cases(writer, 2)
    case, other_case = _cases(writer, mine)[0], _cases(writer, other)[0]
    contact = writer.contact(mine, "agent-0311")
    theirs = writer.contact(mine, "agent-0312")
    token = writer.token("agent-0311", ["agent"])
    before = len(writer.writes.intents)
    no_header = writer.post(NOTE, _note(case), token)
    not_mine = writer.post(NOTE, _note(case), token, x_interaction_id=theirs)
    other_customer = writer.post(NOTE, _note(other_case), token, x_interaction_id=contact)
    assert _codes(no_header) == ["FORBIDDEN"]
    assert _codes(not_mine) == ["FORBIDDEN"]
    assert _codes(other_customer) == ["FORBIDDEN"]
    assert len(writer.writes.intents) == before


def test_a_supervisor_adds_a_note_to_any_case(writer: Writer) -> None:
    case = _cases(writer, _with_cases(writer, 1)[0])[0]
    body = writer.post(NOTE, _note(case), writer.token("sup-0003", ["supervisor"]))
    assert _codes(body) == [] and body["data"]["addCaseNote"]["status"] == "APPLIED"


def _case(customer: dict[str, Any]) -> dict[str, Any]:
    return {
        "input": {
            "customerId": customer["id"],
            "subject": "Dispute of a card payment",
            "type": "CARD",
            "priority": "HIGH",
            "note": "Customer does not recognise the merchant.",
            "idempotencyKey": _key(),
        }
    }


def test_an_agent_opens_a_case_for_a_customer_they_had_a_contact_with(writer: Writer) -> None:
    customer = writer.customers[6]
    writer.contact(customer, "agent-0320")
    body = writer.post(CREATE, _case(customer), writer.token("agent-0320", ["agent"]))
    assert _codes(body) == [] and body["data"]["createCase"]["status"] == "APPLIED"
    intent = writer.writes.intents[-1]
    assert (intent.crm_object, intent.target) == ("Case", customer["id"])
    assert intent.fields == {
        "ContactId": customer["id"],
        "Subject": "Dispute of a card payment",
        "Type": "Card",
        "Priority": "High",
        "Description": "Customer does not recognise the merchant.",
        "OwnerId": "agent-0320",
    }


def test_an_agent_may_not_open_a_case_for_a_customer_they_never_spoke_to(
    writer: Writer,
) -> None:
    before = len(writer.writes.intents)
    body = writer.post(CREATE, _case(writer.customers[7]), writer.token("agent-0321", ["agent"]))
    assert _codes(body) == ["FORBIDDEN"] and body["data"] is None
    assert len(writer.writes.intents) == before
    supervisor = writer.post(
        CREATE, _case(writer.customers[7]), writer.token("sup-0004", ["supervisor"])
    )
    assert supervisor["data"]["createCase"]["status"] == "APPLIED"


WRITE = "query ($id: ID!) { write(id: $id) { writeId status recordId } }"


def test_a_write_is_seen_by_its_writer_and_supervisors_only(writer: Writer) -> None:
    contact = writer.contact(writer.customers[8], "agent-0330")
    result, _ = _dispose(writer, writer.token("agent-0330", ["agent"]), contact)
    assert result is not None
    ask = {"id": result["writeId"]}
    own = writer.post(WRITE, ask, writer.token("agent-0330", ["agent"]))
    other = writer.post(WRITE, ask, writer.token("agent-0331", ["agent"]))
    same_sub_elsewhere = writer.post(
        WRITE, ask, writer.token("agent-0330", ["agent"], partner=True)
    )
    supervisor = writer.post(WRITE, ask, writer.token("sup-0005", ["supervisor"]))
    unknown = writer.post(WRITE, {"id": "w_" + "0" * 32}, writer.token("agent-0330", ["agent"]))
    expected = {"writeId": result["writeId"], "status": "APPLIED", "recordId": result["recordId"]}
    assert own["data"]["write"] == expected
    assert supervisor["data"]["write"] == expected
    assert other["data"]["write"] is None
    assert same_sub_elsewhere["data"]["write"] is None
    assert unknown["data"]["write"] is None
