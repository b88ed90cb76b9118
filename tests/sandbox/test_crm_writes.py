"""The sandbox CRM's writes (docs/sandbox.md "Writes"): Salesforce-flavoured upsert by external
id, the reads that show the writes, and the write faults, over real sockets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sources.sandbox import running

AGENT = "agent-0001"


@pytest.fixture(scope="module")
def crm() -> Iterator[httpx.Client]:
    """A sandbox of its own: writes and write faults change its state."""
    with running(customers=100) as url, httpx.Client(base_url=url, timeout=10) as http:
        yield http


@pytest.fixture(autouse=True)
def _faults_off(crm: httpx.Client) -> Iterator[None]:
    yield
    crm.post("/_sandbox/faults/writes", json={"mode": "ok", "latency_ms": 0, "times": None})


def _customer(crm: httpx.Client, n: int = 0) -> str:
    customer: str = crm.get("/_sandbox/sample", params={"n": n + 1}).json()["customers"][n]["id"]
    return customer


def _task(interaction: str, code: str = "RESOLVED", note: str = "") -> dict[str, Any]:
    return {
        "InteractionId__c": interaction,
        "WhoId": None,
        "CallDisposition": code,
        "Description": note,
        "OwnerId": AGENT,
    }


def test_an_upsert_creates_once_and_then_updates_the_same_record(crm: httpx.Client) -> None:
    path = "/crm/sobjects/Task/ExternalId__c/sb_test_upsert_0001"
    created = crm.patch(path, json=_task("contact-upsert"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["success"] is True and body["created"] is True and body["errors"] == []
    updated = crm.patch(path, json=_task("contact-upsert", code="FOLLOW_UP"))
    assert updated.status_code == 200
    assert updated.json() == {**body, "created": False}
    tasks = crm.get("/crm/tasks", params={"interactionId": "contact-upsert"}).json()
    assert tasks["totalSize"] == 1
    [task] = tasks["records"]
    assert task["Id"] == body["id"] and task["ExternalId__c"] == "sb_test_upsert_0001"
    assert task["CallDisposition"] == "FOLLOW_UP"
    # an update that names another contact moves the task there, in the reads too
    crm.patch(path, json=_task("contact-moved"))
    assert (
        crm.get("/crm/tasks", params={"interactionId": "contact-upsert"}).json()["totalSize"] == 0
    )
    moved = crm.get("/crm/tasks", params={"interactionId": "contact-moved"}).json()["records"]
    assert [t["Id"] for t in moved] == [body["id"]]


def test_a_created_case_and_a_comment_show_in_the_reads(crm: httpx.Client) -> None:
    customer = _customer(crm)
    before = crm.get("/crm/cases", params={"customerId": customer}).json()["records"]
    case = crm.patch(
        "/crm/sobjects/Case/ExternalId__c/sb_test_case_0001",
        json={
            "ContactId": customer,
            "Subject": "Card not arriving",
            "Type": "Card",
            "Priority": "High",
            "Description": "",
            "OwnerId": AGENT,
        },
    )
    assert case.status_code == 201, case.text
    case_id = case.json()["id"]
    after = crm.get("/crm/cases", params={"customerId": customer}).json()["records"]
    assert len(after) == len(before) + 1
    [mine] = [c for c in after if c["Id"] == case_id]
    assert (mine["Status"], mine["Priority"], mine["ContactId"]) == ("New", "High", customer)
    comment = crm.patch(
        "/crm/sobjects/CaseComment/ExternalId__c/sb_test_comment_0001",
        json={"ParentId": case_id, "CommentBody": "Called back", "CreatedById": AGENT},
    )
    assert comment.status_code == 201
    comments = crm.get(f"/crm/cases/{case_id}/comments").json()["records"]
    assert [c["ExternalId__c"] for c in comments] == ["sb_test_comment_0001"]
    # a generated case's LastModifiedDate moves when a comment lands on it
    if before:
        old = before[0]
        crm.patch(
            "/crm/sobjects/CaseComment/ExternalId__c/sb_test_comment_0002",
            json={"ParentId": old["Id"], "CommentBody": "Note", "CreatedById": AGENT},
        )
        again = crm.get("/crm/cases", params={"customerId": customer}).json()["records"]
        [moved] = [c for c in again if c["Id"] == old["Id"]]
        assert moved["LastModifiedDate"] > old["LastModifiedDate"]


def test_bad_writes_are_refused_salesforce_style(crm: httpx.Client) -> None:
    missing = crm.patch("/crm/sobjects/Task/ExternalId__c/sb_bad_0001", json={"OwnerId": AGENT})
    assert missing.status_code == 400
    [error] = missing.json()
    assert error["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert set(error["fields"]) == {"InteractionId__c", "CallDisposition"}
    unknown = crm.patch(
        "/crm/sobjects/Task/ExternalId__c/sb_bad_0002", json={**_task("c"), "Evil__c": "x"}
    )
    assert unknown.json()[0]["errorCode"] == "INVALID_FIELD"
    orphan = crm.patch(
        "/crm/sobjects/CaseComment/ExternalId__c/sb_bad_0003",
        json={"ParentId": "500SB9999999999999", "CommentBody": "x", "CreatedById": AGENT},
    )
    assert orphan.status_code == 404 and orphan.json()[0]["errorCode"] == "NOT_FOUND"
    assert crm.patch("/crm/sobjects/Lead/ExternalId__c/x", json={}).status_code == 404
    assert crm.get("/crm/cases/500SB9999999999999/comments").status_code == 404
    assert crm.get("/crm/tasks").status_code == 400


def _who(profile: str) -> dict[str, Any]:
    """A Task's customer by external id: Salesforce's relationship upsert."""
    task = {k: v for k, v in _task("").items() if k != "WhoId"}
    return {**task, "Who": {"attributes": {"type": "Contact"}, "CcaasProfile__c": profile}}


def test_a_task_names_its_customer_by_ccaas_profile_and_the_crm_links_it(
    crm: httpx.Client,
) -> None:
    customer = _customer(crm, 2)
    [record] = crm.get("/crm/customers", params={"id": customer}).json()["records"]
    body = {**_who(record["CcaasProfile__c"]), "InteractionId__c": "contact-who"}
    created = crm.patch("/crm/sobjects/Task/ExternalId__c/sb_who_0001", json=body)
    assert created.status_code == 201, created.text
    [task] = crm.get("/crm/tasks", params={"interactionId": "contact-who"}).json()["records"]
    # stored as Salesforce stores it: the resolved WhoId, as if the write had named the id
    assert task["WhoId"] == customer and "Who" not in task
    assert task["Id"] == created.json()["id"]


def test_a_task_naming_an_unknown_profile_is_salesforces_foreign_key_error(
    crm: httpx.Client,
) -> None:
    body = {**_who("no-such-profile"), "InteractionId__c": "contact-who-unknown"}
    answer = crm.patch("/crm/sobjects/Task/ExternalId__c/sb_who_0002", json=body)
    assert answer.status_code == 400
    assert answer.json() == [
        {
            "message": "Foreign key external ID: no-such-profile not found for field "
            "CcaasProfile__c in entity Contact",
            "errorCode": "INVALID_FIELD",
            "fields": [],
        }
    ]
    assert _tasks(crm, "contact-who-unknown") == 0  # nothing written


def test_a_malformed_who_is_refused(crm: httpx.Client) -> None:
    path = "/crm/sobjects/Task/ExternalId__c/sb_who_0003"
    good = _who("x")
    for who in (
        "x",
        {"CcaasProfile__c": "x"},  # polymorphic: the entity must be named
        {"attributes": {"type": "Lead"}, "CcaasProfile__c": "x"},
        {"attributes": {"type": "Contact"}, "Email": "x"},
        {"attributes": {"type": "Contact"}, "CcaasProfile__c": 7},
    ):
        answer = crm.patch(path, json={**good, "InteractionId__c": "contact-bad-who", "Who": who})
        assert answer.status_code == 400, who
        assert answer.json()[0]["errorCode"] == "INVALID_FIELD"
    both = crm.patch(
        path, json={**good, "InteractionId__c": "contact-bad-who", "WhoId": _customer(crm)}
    )
    assert both.status_code == 400 and both.json()[0]["fields"] == ["Who", "WhoId"]
    assert _tasks(crm, "contact-bad-who") == 0


def test_an_external_id_on_several_records_answers_300(crm: httpx.Client) -> None:
    seeded = crm.post(
        "/_sandbox/crm/duplicates", json={"object": "Task", "externalId": "sb_dup_0001"}
    )
    assert seeded.status_code == 200
    answer = crm.patch("/crm/sobjects/Task/ExternalId__c/sb_dup_0001", json=_task("c-dup"))
    assert answer.status_code == 300
    assert answer.json() == [f"/crm/sobjects/Task/{i}" for i in seeded.json()["ids"]]


def _tasks(crm: httpx.Client, interaction: str) -> int:
    count: int = crm.get("/crm/tasks", params={"interactionId": interaction}).json()["totalSize"]
    return count


def test_write_faults_error_down_and_reject_apply_nothing(crm: httpx.Client) -> None:
    for mode, status in (("error", 503), ("reject", 400)):
        crm.post("/_sandbox/faults/writes", json={"mode": mode})
        answer = crm.patch(f"/crm/sobjects/Task/ExternalId__c/sb_f_{mode}_01", json=_task(mode))
        assert answer.status_code == status
        assert _tasks(crm, mode) == 0
    crm.post("/_sandbox/faults/writes", json={"mode": "down"})
    with pytest.raises(httpx.TransportError):
        crm.patch("/crm/sobjects/Task/ExternalId__c/sb_f_down_01", json=_task("down"))
    assert _tasks(crm, "down") == 0
    # reads keep working while writes are down
    assert crm.get("/crm/cases", params={"customerId": _customer(crm)}).status_code == 200


def test_applied_then_timeout_writes_the_record_and_never_answers(crm: httpx.Client) -> None:
    crm.post("/_sandbox/faults/writes", json={"mode": "applied_then_timeout", "times": 1})
    with pytest.raises(httpx.ReadTimeout):
        crm.patch(
            "/crm/sobjects/Task/ExternalId__c/sb_f_att_0001",
            json=_task("c-att"),
            timeout=httpx.Timeout(10, read=0.3),
        )
    assert _tasks(crm, "c-att") == 1  # written, though the caller never heard
    # `times` ran out: the retry is answered, and lands on the same record
    retry = crm.patch("/crm/sobjects/Task/ExternalId__c/sb_f_att_0001", json=_task("c-att"))
    assert retry.status_code == 200 and retry.json()["created"] is False
    assert _tasks(crm, "c-att") == 1
    assert crm.get("/_sandbox/faults/writes").json()["mode"] == "ok"


def test_write_faults_are_validated_and_writes_counted(crm: httpx.Client) -> None:
    assert crm.post("/_sandbox/faults/writes", json={"mode": "sideways"}).status_code == 400
    assert crm.post("/_sandbox/faults/writes", json={"times": 0}).status_code == 400
    assert crm.post("/_sandbox/faults/writes", json={"latency_ms": -1}).status_code == 400
    crm.post("/_sandbox/reset")
    crm.patch("/crm/sobjects/Task/ExternalId__c/sb_count_0001", json=_task("c-count"))
    by_route = crm.get("/_sandbox/stats").json()["crm"]["by_route"]
    assert by_route["PATCH /sobjects/Task"] == 1
