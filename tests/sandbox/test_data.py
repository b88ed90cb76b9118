from __future__ import annotations

from datetime import UTC, datetime

import httpx

from sources.sandbox import running

from .support import ANCHOR

PATHS = (
    "/_sandbox/sample?n=25",
    "/crm/customers?id=003SB0000000000001&id=003SB0000000000150&id=003SB0000000000299",
    "/crm/cases?customerId=003SB0000000000001&customerId=003SB0000000000002",
    "/knowledge/articles/search?query=fraud&per_page=20",
)


def _snapshot(url: str) -> list[bytes]:
    with httpx.Client(base_url=url) as http:
        answers = [http.get(path).content for path in PATHS]
        records = http.get("/crm/customers?id=003SB0000000000150").json()["records"]
        party, profile = records[0]["CoreParty__c"], records[0]["CcaasProfile__c"]
        accounts = http.get(f"/core/accounts?partyId={party}")
        answers.append(accounts.content)
        account_ids = [a["AccountId"] for a in accounts.json()["Data"]["Account"]]
        answers.append(http.get("/core/transactions", params={"accountId": account_ids}).content)
        for path in ("/core/cards", "/core/risk", "/core/events"):
            answers.append(http.get(path, params={"partyId": party}).content)
        answers.append(http.get("/ccaas/contacts", params={"profileId": profile}).content)
    return answers


def test_same_seed_gives_the_same_records_across_instances() -> None:
    with running(seed=11, customers=300, anchor=ANCHOR) as first:
        one = _snapshot(first)
    with running(seed=11, customers=300, anchor=ANCHOR, http="h11") as second:
        two = _snapshot(second)
    assert one == two


def test_another_seed_or_anchor_gives_other_records() -> None:
    with running(seed=11, customers=300, anchor=ANCHOR) as url:
        base = _snapshot(url)
    with running(seed=12, customers=300, anchor=ANCHOR) as url:
        reseeded = _snapshot(url)
    later = datetime(2026, 6, 1, tzinfo=UTC)
    with running(seed=11, customers=300, anchor=later) as url:
        moved = _snapshot(url)
    assert base[0] != reseeded[0]
    assert base[-1] != moved[-1] or base[-4] != moved[-4]
