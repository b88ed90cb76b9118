from __future__ import annotations

from typing import Any

import httpx


def _data(response: httpx.Response, resource: str) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["Meta"]["TotalPages"] == 1
    assert body["Links"]["Self"].startswith("/core/")
    records: list[dict[str, Any]] = body["Data"][resource]
    return records


def _party(client: httpx.Client, crm_id: str) -> str:
    response = client.get("/crm/customers", params={"id": crm_id})
    party: str = response.json()["records"][0]["CoreParty__c"]
    return party


def _luhn_valid(pan: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(pan)):
        digit = int(char) * (2 if position % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


def test_accounts_belong_to_the_party_and_match_the_sample(
    client: httpx.Client, sample: list[dict[str, Any]]
) -> None:
    for customer in sample[:10]:
        party = _party(client, customer["id"])
        accounts = _data(client.get("/core/accounts", params={"partyId": party}), "Account")
        assert 1 <= len(accounts) <= 4
        assert {a["PartyId"] for a in accounts} == {party}
        assert sorted(a["AccountNumber"] for a in accounts) == sorted(customer["accountNumbers"])
        assert sorted(a["Balance"]["Current"] for a in accounts) == sorted(customer["balances"])


def test_account_search_by_number_finds_one_account(
    client: httpx.Client, sample: list[dict[str, Any]]
) -> None:
    number = sample[3]["accountNumbers"][0]
    found = _data(client.get("/core/accounts/search", params={"accountNumber": number}), "Account")
    assert [account["AccountNumber"] for account in found] == [number]
    none = client.get("/core/accounts/search", params={"accountNumber": "0000000000"})
    assert _data(none, "Account") == []
    assert client.get("/core/accounts/search").status_code == 400


def test_transactions_are_newest_first_and_limited_per_account(
    client: httpx.Client, sample: list[dict[str, Any]]
) -> None:
    parties = [_party(client, customer["id"]) for customer in sample[:30]]
    accounts = _data(client.get("/core/accounts", params={"partyId": parties}), "Account")
    ids = [account["AccountId"] for account in accounts]
    response = client.get("/core/transactions", params={"accountId": ids, "perAccount": 3})
    transactions = _data(response, "Transaction")
    totals = response.json()["Meta"]["TotalRecords"]
    assert set(totals) == set(ids)
    assert any(total > 3 for total in totals.values())
    by_account: dict[str, list[dict[str, Any]]] = {}
    for transaction in transactions:
        by_account.setdefault(transaction["AccountId"], []).append(transaction)
    for account_id, total in totals.items():
        rows = by_account.get(account_id, [])
        assert len(rows) == min(3, total)
        times = [row["BookingDateTime"] for row in rows]
        assert times == sorted(times, reverse=True)
    busiest = max(totals, key=totals.__getitem__)
    every = client.get("/core/transactions", params={"accountId": busiest, "perAccount": 100})
    rows = _data(every, "Transaction")
    assert len(rows) == totals[busiest] <= 60
    assert rows[:3] == by_account[busiest]


def test_transactions_reject_bad_per_account(client: httpx.Client) -> None:
    for value in ("ten", "0", "101", "1.5"):
        response = client.get(
            "/core/transactions", params={"accountId": "ACC000000001", "perAccount": value}
        )
        assert response.status_code == 400, value
        assert "perAccount" in response.json()["error"]


def test_cards_carry_luhn_valid_test_pans(
    client: httpx.Client, sample: list[dict[str, Any]]
) -> None:
    for customer in sample[:20]:
        party = _party(client, customer["id"])
        cards = _data(client.get("/core/cards", params={"partyId": party}), "Card")
        assert sorted(card["Pan"] for card in cards) == sorted(c["pan"] for c in customer["cards"])
        for card in cards:
            assert len(card["Pan"]) == 16
            assert _luhn_valid(card["Pan"])


def test_risk_is_one_per_known_party_and_some_are_flagged(
    client: httpx.Client, sample: list[dict[str, Any]]
) -> None:
    parties = [_party(client, customer["id"]) for customer in sample[:200:2]]
    risks = _data(client.get("/core/risk", params={"partyId": [*parties, "PTY999999999"]}), "Risk")
    assert sorted(risk["PartyId"] for risk in risks) == sorted(set(parties))
    flagged = [r for r in risks if r["FraudHold"] or r["CollectionsStatus"] != "CURRENT"]
    assert 0 < len(flagged) < len(risks) // 4


def test_events_are_newest_first_per_party(
    client: httpx.Client, sample: list[dict[str, Any]]
) -> None:
    parties = [_party(client, customer["id"]) for customer in sample[:20]]
    events = _data(client.get("/core/events", params={"partyId": parties, "perParty": 2}), "Event")
    assert events
    by_party: dict[str, list[str]] = {}
    for event in events:
        by_party.setdefault(event["PartyId"], []).append(event["Time"])
    for times in by_party.values():
        assert len(times) <= 2
        assert times == sorted(times, reverse=True)
    assert (
        client.get("/core/events", params={"partyId": parties[0], "perParty": "x"}).status_code
        == 400
    )
