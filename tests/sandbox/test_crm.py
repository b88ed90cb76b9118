from __future__ import annotations

from typing import Any

import httpx


def _records(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["done"] is True
    assert body["totalSize"] == len(body["records"])
    records: list[dict[str, Any]] = body["records"]
    return records


def test_customers_batch_drops_unknown_and_duplicate_ids_and_shuffles(
    client: httpx.Client, sample: list[dict[str, Any]]
) -> None:
    ids = [customer["id"] for customer in sample[:20]]
    asked = [*ids, ids[0], "003SB9999999999999"]
    records = _records(client.get("/crm/customers", params={"id": asked}))
    answered = [record["Id"] for record in records]
    assert sorted(answered) == sorted(ids)
    assert answered != ids


def test_customers_by_external_ids_find_the_same_records(
    client: httpx.Client, sample: list[dict[str, Any]]
) -> None:
    ids = [customer["id"] for customer in sample[:5]]
    records = _records(client.get("/crm/customers", params={"id": ids}))
    for record in records:
        assert record["CoreParty__c"] != record["Id"] != record["CcaasProfile__c"]
        for key, field in (("coreId", "CoreParty__c"), ("ccaasId", "CcaasProfile__c")):
            again = _records(client.get("/crm/customers", params={key: record[field]}))
            assert again == [record]


def test_customers_rejects_over_max_batch_and_mixed_or_missing_keys(
    client: httpx.Client, sample: list[dict[str, Any]]
) -> None:
    too_many = [f"003SB{n:013d}" for n in range(201)]
    for params in (
        {"id": too_many},
        {"id": sample[0]["id"], "coreId": "PTY100000001"},
        {},
    ):
        response = client.get("/crm/customers", params=params)
        assert response.status_code == 400
        assert isinstance(response.json()["error"], str)
    assert client.get("/crm/customers", params={"id": too_many[:200]}).status_code == 200


def test_search_by_phone_finds_whole_households(
    client: httpx.Client, sample: list[dict[str, Any]]
) -> None:
    households = 0
    for customer in sample:
        for phone in customer["phones"]:
            records = _records(client.get("/crm/customers/search", params={"phone": phone}))
            assert customer["id"] in {record["Id"] for record in records}
            for record in records:
                assert phone in {entry["Number"] for entry in record["Phones"]}
            if len(records) > 1:
                households += 1
                assert len({record["LastName"] for record in records}) == 1
                assert 2 <= len(records) <= 3
    assert households >= 5


def test_search_by_email_is_case_insensitive(
    client: httpx.Client, sample: list[dict[str, Any]]
) -> None:
    email = sample[0]["emails"][0]
    records = _records(client.get("/crm/customers/search", params={"email": email.upper()}))
    assert [record["Id"] for record in records] == [sample[0]["id"]]


def test_search_rejects_malformed_phone_and_ambiguous_keys(client: httpx.Client) -> None:
    for params in (
        {"phone": "(202) 555-0143"},
        {"phone": "+0123"},
        {"phone": "+12025550143", "email": "a@example.com"},
        {},
    ):
        assert client.get("/crm/customers/search", params=params).status_code == 400
    unknown = client.get("/crm/customers/search", params={"phone": "+19995550000"})
    assert _records(unknown) == []


def test_cases_filter_by_status(client: httpx.Client, sample: list[dict[str, Any]]) -> None:
    ids = [customer["id"] for customer in sample[:60]]
    every = _records(client.get("/crm/cases", params={"customerId": ids}))
    open_ = _records(client.get("/crm/cases", params={"customerId": ids, "status": "open"}))
    closed = _records(client.get("/crm/cases", params={"customerId": ids, "status": "closed"}))
    assert every and open_ and closed
    assert {case["ContactId"] for case in every} <= set(ids)
    assert all(case["Status"] != "Closed" for case in open_)
    assert all(case["Status"] == "Closed" for case in closed)
    assert len(open_) + len(closed) == len(every)
    assert client.get("/crm/cases", params={"customerId": ids, "status": "x"}).status_code == 400
