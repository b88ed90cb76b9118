"""The CRM client's write (sources/crm.py `upsert`): one PATCH by external id through the one
HTTP seam, the CRM's answers told apart (final `WriteRejected` vs retryable `SourceError`), and
never a write without its external id."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from sources import (
    CrmClient,
    MockExchange,
    SourceCircuitOpen,
    SourceError,
    SourceSettings,
    SourceTimeout,
    SourceUnavailable,
    Transport,
    Upserted,
    WriteRejected,
)
from sources.sandbox import running
from sources.transport import Reply
from sources.transport import Request as MockRequest

FIELDS = {
    "InteractionId__c": "contact-1",
    "WhoId": None,
    "CallDisposition": "RESOLVED",
    "Description": "",
    "OwnerId": "agent-0001",
}
EXTERNAL = "sb_0123456789abcdef0123456789abcdef"


def _client(handler: Any, **settings: Any) -> CrmClient:
    factory = MockExchange.serving(handler)
    base = SourceSettings(name="crm", base_url="http://crm.test", **settings)
    return CrmClient(Transport(base, exchange=factory))


async def test_an_upsert_is_one_patch_by_external_id_with_a_json_body() -> None:
    seen: list[MockRequest] = []

    def handler(request: MockRequest) -> Reply:
        seen.append(request)
        return Reply.json({"id": "00TSB1", "success": True, "errors": [], "created": True}, 201)

    done = await _client(handler).upsert("Task", EXTERNAL, FIELDS)
    assert done == Upserted("00TSB1", True)
    [request] = seen
    assert request.method == "PATCH"
    assert request.path == f"/sobjects/Task/ExternalId__c/{EXTERNAL}"
    assert orjson.loads(request.body) == FIELDS


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (400, [{"message": "x", "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["OwnerId"]}],
         "REQUIRED_FIELD_MISSING"),
        (404, [{"message": "x", "errorCode": "NOT_FOUND"}], "NOT_FOUND"),
        (300, ["/crm/sobjects/Task/a", "/crm/sobjects/Task/b"], "DUPLICATE_EXTERNAL_ID"),
        (422, {"weird": True}, "INVALID_REQUEST"),
    ],
)  # fmt: skip
async def test_final_answers_are_write_rejected_with_the_crms_reason(
    status: int, body: Any, reason: str
) -> None:
    client = _client(lambda request: Reply.json(body, status))
    with pytest.raises(WriteRejected) as caught:
        await client.upsert("Task", EXTERNAL, FIELDS)
    assert caught.value.reason == reason and not caught.value.retryable
    assert "http" not in caught.value.message


async def test_failures_worth_retrying_are_other_source_errors() -> None:
    def unavailable(request: MockRequest) -> Reply:
        return Reply.json({"error": "down"}, 503)

    def refused(request: MockRequest) -> Reply:
        raise ConnectionRefusedError

    def slow(request: MockRequest) -> Reply:
        raise TimeoutError

    for handler, kind in ((unavailable, SourceUnavailable), (refused, SourceUnavailable),
                          (slow, SourceTimeout)):  # fmt: skip
        with pytest.raises(kind) as caught:
            await _client(handler).upsert("Task", EXTERNAL, FIELDS)
        assert not isinstance(caught.value, WriteRejected)
    client = _client(unavailable, breaker_min_calls=1, breaker_window=1)
    with pytest.raises(SourceUnavailable):
        await client.upsert("Task", EXTERNAL, FIELDS)
    with pytest.raises(SourceCircuitOpen):  # failing fast: nothing sent
        await client.upsert("Task", EXTERNAL, FIELDS)


async def test_a_malformed_success_is_not_taken_for_a_write() -> None:
    client = _client(lambda request: Reply.json({"success": False}, 200))
    with pytest.raises(SourceError) as caught:
        await client.upsert("Task", EXTERNAL, FIELDS)
    assert not isinstance(caught.value, WriteRejected)


@pytest.mark.parametrize("external_id", ["", "short", "has/slash/in/it/x", "a" * 81, "sp ace_1234"])
async def test_no_write_goes_without_a_proper_external_id(external_id: str) -> None:
    sent: list[MockRequest] = []

    def handler(request: MockRequest) -> Reply:
        sent.append(request)
        return Reply.json({}, 201)

    client = _client(handler)
    with pytest.raises(ValueError, match="external id"):
        await client.upsert("Task", external_id, FIELDS)
    assert sent == []


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with running(customers=50) as url:
        yield url


@pytest.mark.parametrize("kind", ["aiohttp", "httpx", "wire"])
async def test_upserts_over_real_sockets_land_on_one_record(sandbox: str, kind: str) -> None:
    settings = SourceSettings(name="crm", base_url=f"{sandbox}/crm", client=kind)
    transport = Transport(settings)
    client = CrmClient(transport)
    external = f"sb_sockets_{kind}_0001"
    try:
        first = await client.upsert("Task", external, {**FIELDS, "InteractionId__c": kind})
        again = await client.upsert("Task", external, {**FIELDS, "InteractionId__c": kind})
    finally:
        await transport.aclose()
    assert first.created and not again.created and first.record_id == again.record_id
    async with httpx.AsyncClient(base_url=sandbox) as http:
        tasks = (await http.get("/crm/tasks", params={"interactionId": kind})).json()
    assert tasks["totalSize"] == 1


def _by_profile(profile: str) -> dict[str, str | None]:
    task = {k: v for k, v in FIELDS.items() if k != "WhoId"}
    return {**task, "Who.CcaasProfile__c": profile}


async def test_a_customer_named_by_external_id_is_sent_as_a_relationship() -> None:
    seen: list[MockRequest] = []

    def handler(request: MockRequest) -> Reply:
        seen.append(request)
        return Reply.json({"id": "00TSB1", "success": True, "errors": [], "created": True}, 201)

    await _client(handler).upsert("Task", EXTERNAL, _by_profile("p-1"))
    [request] = seen
    assert orjson.loads(request.body)["Who"] == {
        "attributes": {"type": "Contact"},
        "CcaasProfile__c": "p-1",
    }
    with pytest.raises(ValueError, match="relationship"):
        await _client(handler).upsert("Case", EXTERNAL, {"Who.CcaasProfile__c": "p-1"})


async def test_another_invalid_field_is_not_taken_for_a_missing_customer() -> None:
    """Only the CRM's "not found" for the very key sent drops the relationship."""
    seen: list[MockRequest] = []
    error = "Foreign key external ID: p-2 not found for field CcaasProfile__c in entity Contact"

    def handler(request: MockRequest) -> Reply:
        seen.append(request)
        return Reply.json([{"message": error, "errorCode": "INVALID_FIELD", "fields": []}], 400)

    with pytest.raises(WriteRejected) as caught:
        await _client(handler).upsert("Task", EXTERNAL, _by_profile("p-1"))
    assert caught.value.reason == "INVALID_FIELD" and len(seen) == 1


async def test_a_task_about_a_profile_no_customer_has_is_written_without_who(
    sandbox: str,
) -> None:
    """Over real sockets: a known profile links the Task to its customer; an unknown one is
    refused by the CRM (Salesforce's foreign-key error) and the Task is written without Who,
    on the same external id (so it is one record however often the write is retried)."""
    async with httpx.AsyncClient(base_url=sandbox) as http:
        customer = (await http.get("/_sandbox/sample", params={"n": 1})).json()["customers"][0]
        records = (await http.get("/crm/customers", params={"id": customer["id"]})).json()
        profile = records["records"][0]["CcaasProfile__c"]
        transport = Transport(SourceSettings(name="crm", base_url=f"{sandbox}/crm"))
        client = CrmClient(transport)
        try:
            known = await client.upsert(
                "Task", "sb_who_known_0001", {**_by_profile(profile), "InteractionId__c": "w-1"}
            )
            unknown = {**_by_profile("no-such-profile"), "InteractionId__c": "w-2"}
            first = await client.upsert("Task", "sb_who_unknown_01", unknown)
            again = await client.upsert("Task", "sb_who_unknown_01", unknown)
        finally:
            await transport.aclose()
        [linked] = (await http.get("/crm/tasks", params={"interactionId": "w-1"})).json()["records"]
        [alone] = (await http.get("/crm/tasks", params={"interactionId": "w-2"})).json()["records"]
    assert known.created and linked["Id"] == known.record_id
    assert linked["WhoId"] == customer["id"]
    assert first.created and not again.created and alone["Id"] == first.record_id
    assert alone.get("WhoId") is None and alone["CallDisposition"] == "RESOLVED"
