"""`/ccaas`: voice, chat, IVR and bot contacts, Amazon Connect-flavoured. Envelope
`{"Contacts": [...]}`. Live contacts created through `/_sandbox/contacts` come first.
"""

from __future__ import annotations

from .data import Dataset
from .http import BadRequest, Handler, Request, Response, join, ok

MAX_BATCH = 200


def _envelope(records: list[bytes]) -> Response:
    return ok(b'{"Contacts":[%b]}' % join(records))


class Ccaas:
    def __init__(self, data: Dataset) -> None:
        self.data = data

    def routes(self) -> dict[str, Handler]:
        return {"GET /contacts": self.contacts}

    def contacts(self, request: Request) -> Response:
        if "id" in request.query and "profileId" in request.query:
            raise BadRequest("give id or profileId, not both")
        if "id" in request.query:
            return self._by_id(request)
        per_profile = request.integer("perProfile", 10, 1, 50)
        by_profile = self.data.population.by_profile_id
        owners = {
            by_profile[key] for key in request.batch("profileId", MAX_BATCH) if key in by_profile
        }
        records = [
            body
            for index in sorted(owners, key=self.data.rank.__getitem__)
            for body in self.data.newest_contacts(index, per_profile)
        ]
        return _envelope(records)

    def _by_id(self, request: Request) -> Response:
        found = []
        for contact_id in request.batch("id", MAX_BATCH):
            hit = self.data.contact_by_id(contact_id)
            if hit is not None:
                index, contact = hit
                rank = -1 if index is None else self.data.rank[index]  # unknown callers first
                found.append((rank, contact.time, contact.body))
        found.sort()
        return _envelope([body for _, _, body in found])
