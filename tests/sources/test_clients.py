"""Source clients over httpx.MockTransport: batching, chunking and validating decoders."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from sources import (
    SYSTEMS,
    SourceBadResponse,
    SourcePartial,
    Sources,
    SourceSettings,
    SourceUnavailable,
)
from sources.transport import HttpxExchange

ACCOUNT = {
    "AccountId": "ACC1",
    "PartyId": "PTY1",
    "AccountType": "CHECKING",
    "ProductName": "Everyday Checking",
    "Status": "Enabled",
    "Currency": "USD",
    "AccountNumber": "1234567890",
    "Balance": {"Current": "10.50", "Available": "9.00"},
    "OpenedOn": "2020-01-02",
    "DaysPastDue": 0,
}
CUSTOMER = {
    "Id": "003SB0000000000001",
    "FirstName": "Ada",
    "LastName": "Moreno",
    "Birthdate": "1984-03-12",
    "SSN__c": "912-34-5678",
    "Phones": [{"Type": "Mobile", "Number": "+12025550143"}],
    "Emails": ["ada@example.com"],
    "MailingAddress": None,
    "Segment__c": "MASS",
    "PreferredLanguage__c": "en-US",
    "CoreParty__c": "PTY1",
    "CcaasProfile__c": "abc",
    "CreatedDate": "2019-05-01T10:00:00Z",
}


def open_sources(handler: Any, max_batch: int = 200) -> Sources:
    settings = {
        name: SourceSettings(name=name, base_url=f"http://sandbox/{name}", max_batch=max_batch)
        for name in SYSTEMS
    }
    return Sources.open(settings, exchange=HttpxExchange.over(httpx.MockTransport(handler)))


async def test_core_accounts_chunk_by_max_batch_and_dedupe() -> None:
    asked: list[list[str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        ids = request.url.params.get_list("partyId")
        asked.append(ids)
        records = [{**ACCOUNT, "AccountId": f"A-{p}", "PartyId": p} for p in ids]
        return httpx.Response(200, json={"Data": {"Account": records}, "Links": {}, "Meta": {}})

    sources = open_sources(handler, max_batch=3)
    found = await sources.core.accounts(["p1", "p2", "p1", "p3", "p4", "p5", "p6", "p7"])
    assert sorted(len(chunk) for chunk in asked) == [1, 3, 3]
    assert sorted(a.party_id for a in found) == [f"p{i}" for i in range(1, 8)]
    assert found[0].balance == Decimal("10.50")
    await sources.aclose()


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"Balance": {"Current": "ten"}}, "Current"),
        ({"Balance": {"Current": "NaN"}}, "Current"),
        ({"DaysPastDue": "3"}, "DaysPastDue"),
        ({"DaysPastDue": True}, "DaysPastDue"),
        ({"Status": "Frozen"}, "Status"),
        ({"OpenedOn": "yesterday"}, "OpenedOn"),
        ({"AccountId": None}, "AccountId"),
    ],
)
async def test_core_account_decoder_refuses_wrong_shapes(patch: dict[str, Any], key: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"Data": {"Account": [{**ACCOUNT, **patch}]}})

    sources = open_sources(handler)
    with pytest.raises(SourceBadResponse) as caught:
        await sources.core.accounts(["PTY1"])
    assert key in str(caught.value) and caught.value.source == "core"
    await sources.aclose()


async def test_a_200_carrying_an_error_body_is_not_an_empty_answer() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"error": "session expired"})

    sources = open_sources(handler)
    with pytest.raises(SourceBadResponse):
        await sources.crm.customers("id", ["003SB0000000000001"])
    await sources.aclose()


async def test_crm_customer_decodes_to_record() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/crm/customers"
        assert request.url.params.get_list("coreId") == ["PTY1"]
        return httpx.Response(200, json={"totalSize": 1, "done": True, "records": [CUSTOMER]})

    sources = open_sources(handler)
    [customer] = await sources.crm.customers("coreId", ["PTY1"])
    assert customer.id == "003SB0000000000001"
    assert customer.phones[0].number == "+12025550143"
    assert customer.core_party_id == "PTY1" and customer.address is None
    assert customer.created_at is not None and customer.created_at.tzinfo is not None
    await sources.aclose()


async def test_crm_search_needs_exactly_one_key() -> None:
    sources = open_sources(lambda request: httpx.Response(200, json={"records": []}))
    with pytest.raises(ValueError, match="exactly one"):
        await sources.crm.search_customers(phone="+1", email="a@b.c")
    await sources.aclose()


async def test_knowledge_by_intent_refuses_a_malformed_map() -> None:
    sources = open_sources(lambda request: httpx.Response(200, json={"results": ["x"]}))
    with pytest.raises(SourceBadResponse):
        await sources.knowledge.by_intent(["card_lost"], 3)
    await sources.aclose()


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([{**ACCOUNT, "PartyId": "PTY9"}], "not asked for"),  # someone else's account
        ([ACCOUNT, ACCOUNT], "twice"),  # the same record twice
    ],
)
async def test_a_batch_answer_with_strangers_or_duplicates_is_refused_whole(
    records: list[dict[str, Any]], message: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"Data": {"Account": records}})

    sources = open_sources(handler)
    with pytest.raises(SourceBadResponse, match=message):
        await sources.core.accounts(["PTY1", "PTY2"])
    await sources.aclose()


async def test_customers_answered_for_other_external_ids_are_refused() -> None:
    other = {**CUSTOMER, "CoreParty__c": "PTY-SOMEONE-ELSE"}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"totalSize": 1, "done": True, "records": [other]})

    sources = open_sources(handler)
    with pytest.raises(SourceBadResponse, match="not asked for"):
        await sources.crm.customers("coreId", ["PTY1"])
    await sources.aclose()


async def test_a_failed_chunk_fails_only_its_own_keys() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        ids = request.url.params.get_list("partyId")
        if "p3" in ids:
            return httpx.Response(503)
        records = [{**ACCOUNT, "AccountId": f"A-{p}", "PartyId": p} for p in ids]
        return httpx.Response(200, json={"Data": {"Account": records}})

    sources = open_sources(handler, max_batch=2)
    with pytest.raises(SourcePartial) as caught:
        await sources.core.accounts(["p1", "p2", "p3", "p4"])
    assert caught.value.failed == {"p3", "p4"}
    assert sorted(a.party_id for a in caught.value.records) == ["p1", "p2"]  # type: ignore[attr-defined]
    assert caught.value.code == "SOURCE_UNAVAILABLE"
    with pytest.raises(SourceUnavailable):  # every chunk failed: the plain error
        await sources.core.accounts(["p3", "p5"])
    await sources.aclose()
