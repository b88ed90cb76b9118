"""`/core`: accounts, balances, transactions, cards, risk and events, Open Banking-flavoured.

Envelope `{"Data": {"<Resource>": [...]}, "Links": {"Self": ...}, "Meta": {"TotalPages": 1}}`.
"""

from __future__ import annotations

import orjson

from .data import Dataset
from .http import Handler, Request, Response, join, ok

MAX_BATCH = 200


def _envelope(
    request: Request, resource: bytes, records: list[bytes], meta: bytes = b""
) -> Response:
    return ok(
        b'{"Data":{"%b":[%b]},"Links":{"Self":%b},"Meta":{"TotalPages":1%b}}'
        % (resource, join(records), orjson.dumps(request.self_link), meta)
    )


class Core:
    def __init__(self, data: Dataset) -> None:
        self.data = data

    def routes(self) -> dict[str, Handler]:
        return {
            "GET /accounts": self.accounts,
            "GET /accounts/search": self.search,
            "GET /transactions": self.transactions,
            "GET /cards": self.cards,
            "GET /risk": self.risk,
            "GET /parties": self.parties,
            "GET /events": self.events,
        }

    def _parties(self, request: Request) -> list[int]:
        by_party = self.data.population.by_party_id
        found = {by_party[key] for key in request.batch("partyId", MAX_BATCH) if key in by_party}
        return sorted(found, key=self.data.rank.__getitem__)

    def accounts(self, request: Request) -> Response:
        records = [
            account.body
            for index in self._parties(request)
            for account in self.data.banking(index).accounts
        ]
        return _envelope(request, b"Account", records)

    def search(self, request: Request) -> Response:
        found = self.data.population.by_account_number.get(request.required("accountNumber"))
        records = []
        if found is not None:
            index, ordinal = found
            records.append(self.data.banking(index).accounts[ordinal].body)
        return _envelope(request, b"Account", records)

    def transactions(self, request: Request) -> Response:
        per_account = request.integer("perAccount", 10, 1, 100)
        by_account = self.data.population.by_account_id
        wanted = {
            by_account[key] for key in request.batch("accountId", MAX_BATCH) if key in by_account
        }
        records, totals = [], {}
        for index, ordinal in sorted(wanted, key=lambda pair: (self.data.rank[pair[0]], pair[1])):
            ledger = self.data.ledger(index, ordinal)
            records.append(ledger.newest(per_account))
            totals[self.data.banking(index).accounts[ordinal].account_id] = ledger.count
        meta = b',"TotalRecords":' + orjson.dumps(totals)
        return _envelope(request, b"Transaction", records, meta)

    def cards(self, request: Request) -> Response:
        records = [
            card.body for index in self._parties(request) for card in self.data.banking(index).cards
        ]
        return _envelope(request, b"Card", records)

    def risk(self, request: Request) -> Response:
        records = [self.data.banking(index).risk for index in self._parties(request)]
        return _envelope(request, b"Risk", records)

    def parties(self, request: Request) -> Response:
        """The core's KYC copy of each party's identity (drift.py)."""
        records = [self.data.party(index) for index in self._parties(request)]
        return _envelope(request, b"Party", records)

    def events(self, request: Request) -> Response:
        per_party = request.integer("perParty", 20, 1, 100)
        records = [self.data.events(index).newest(per_party) for index in self._parties(request)]
        return _envelope(request, b"Event", records)
