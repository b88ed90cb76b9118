"""`/crm`: customer identity, contact points and cases, Salesforce-flavoured.

Envelope `{"totalSize": n, "done": true, "records": [...]}`; see docs/sandbox.md.
"""

from __future__ import annotations

import re

from .crm_writes import CrmWrites
from .data import Dataset
from .http import BadRequest, Handler, Request, Response, join, ok

MAX_BATCH = 200
MAX_SEARCH = 50
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_COMMENTS = re.compile(r"cases/([A-Za-z0-9]{1,40})/comments")


def _envelope(records: list[bytes], count: int) -> Response:
    return ok(b'{"totalSize":%d,"done":true,"records":[%b]}' % (count, join(records)))


PATTERNED = ("GET /cases/{caseId}/comments", "PATCH /sobjects/{object}/ExternalId__c/{externalId}")
"""Routes with path parameters, matched outside the exact-route table (documented in OpenAPI)."""


class Crm:
    def __init__(self, data: Dataset, writes: CrmWrites) -> None:
        self.data = data
        self.writes = writes
        population = data.population
        self._indexes = {
            "id": population.by_crm_id,
            "coreId": population.by_party_id,
            "ccaasId": population.by_profile_id,
        }

    def routes(self) -> dict[str, Handler]:
        return {
            "GET /customers": self.customers,
            "GET /customers/search": self.search,
            "GET /cases": self.cases,
            "GET /tasks": self.writes.task_list,
        }

    def match(self, method: str, rest: str) -> Handler | None:
        """`GET /cases/{id}/comments`, the one parameterised read (writes: app.py)."""
        found = _COMMENTS.fullmatch(rest) if method == "GET" else None
        if found is None:
            return None
        case_id = found.group(1)
        return lambda request: self.writes.case_comments(case_id)

    def _answer(self, indexes: list[int]) -> Response:
        ordered = sorted(set(indexes), key=self.data.rank.__getitem__)
        return _envelope([self.data.customer(i).body for i in ordered], len(ordered))

    def customers(self, request: Request) -> Response:
        kind = request.exactly_one(*self._indexes)
        index = self._indexes[kind]
        found = [index[key] for key in request.batch(kind, MAX_BATCH) if key in index]
        return self._answer(found)

    def search(self, request: Request) -> Response:
        kind = request.exactly_one("phone", "email")
        value = request.required(kind)
        population = self.data.population
        if kind == "phone":
            if not _E164.match(value):
                raise BadRequest("phone must be E.164, like +12025550143")
            found = population.by_phone.get(value, [])
        else:
            found = population.by_email.get(value.strip().lower(), [])
        return self._answer(found[:MAX_SEARCH])

    def cases(self, request: Request) -> Response:
        status = request.single("status")
        if status not in (None, "open", "closed"):
            raise BadRequest("status must be open or closed")
        by_crm_id = self.data.population.by_crm_id
        owners = [
            by_crm_id[key] for key in request.batch("customerId", MAX_BATCH) if key in by_crm_id
        ]
        records = [
            case.body
            for index in sorted(set(owners), key=self.data.rank.__getitem__)
            for case in self.writes.cases(index)
            if status is None or case.closed == (status == "closed")
        ]
        return _envelope(records, len(records))
