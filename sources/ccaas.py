"""The CCaaS contact platform: voice, chat, IVR and bot contacts (Amazon Connect-flavoured)."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from ._client import SourceClient
from ._decode import Reader, Shape, parse_instant
from .records import (
    CHANNELS,
    CONTACT_STATES,
    DIRECTIONS,
    IDV_RESULTS,
    Channel,
    Contact,
    ContactState,
    Direction,
    IdvResult,
)

__all__ = ["CcaasClient"]


class CcaasClient(SourceClient):
    async def contacts(self, contact_ids: Iterable[str]) -> list[Contact]:
        return await self.batch(
            "/contacts",
            "id",
            contact_ids,
            CONTACTS,
            asked=lambda c: c.id,
            ident=lambda c: c.id,
        )

    async def contacts_of(self, profile_ids: Iterable[str], per_profile: int) -> list[Contact]:
        """The newest `per_profile` contacts of each profile."""
        return await self.batch(
            "/contacts",
            "profileId",
            profile_ids,
            CONTACTS,
            asked=lambda c: c.profile_id,
            ident=lambda c: c.id,
            extra=[("perProfile", str(per_profile))],
        )


def _contact(r: Reader) -> Contact:
    endpoint = r.obj("CustomerEndpoint", "endpoint")
    return Contact(
        id=r.text("Id"),
        # no profile: absent, null or "" (never a key to look a customer up by)
        profile_id=r.opt_text("ProfileId") or None,
        channel=r.choice("Channel", CHANNELS),
        direction=r.choice("InitiationMethod", DIRECTIONS),
        started_at=r.instant("InitiationTimestamp"),
        ended_at=r.opt_instant("DisconnectTimestamp"),
        state=r.choice("State", CONTACT_STATES),
        queue=r.opt_text("QueueName"),
        agent_id=r.opt_text("AgentId"),
        intent=r.opt_text("Intent"),
        summary=r.opt_text("Summary"),
        disposition=r.opt_text("Disposition"),
        idv_result=r.choice("IdvResult", IDV_RESULTS),
        ani=None if endpoint is None else endpoint.opt_text("Address"),
        previous_contact_id=r.opt_text("PreviousContactId"),
    )


# The fast way (sources/_decode.py; the conventions of sources/_core_answers.py).


class _Endpoint(msgspec.Struct, gc=False):
    Address: str | None = None


class _Contact(msgspec.Struct, gc=False):
    Id: str
    Channel: Channel
    InitiationMethod: Direction
    InitiationTimestamp: str
    State: ContactState
    IdvResult: IdvResult
    ProfileId: str | None = None
    DisconnectTimestamp: str | None = None
    QueueName: str | None = None
    AgentId: str | None = None
    Intent: str | None = None
    Summary: str | None = None
    Disposition: str | None = None
    CustomerEndpoint: _Endpoint | None = None
    PreviousContactId: str | None = None


class _Contacts(msgspec.Struct, gc=False):
    Contacts: list[_Contact]


def _build_contacts(answer: _Contacts) -> list[Contact]:
    out = []
    for c in answer.Contacts:
        ended = c.DisconnectTimestamp
        endpoint = c.CustomerEndpoint
        out.append(
            Contact(
                id=c.Id,
                profile_id=c.ProfileId or None,
                channel=c.Channel,
                direction=c.InitiationMethod,
                started_at=parse_instant(c.InitiationTimestamp),
                ended_at=None if ended is None else parse_instant(ended),
                state=c.State,
                queue=c.QueueName,
                agent_id=c.AgentId,
                intent=c.Intent,
                summary=c.Summary,
                disposition=c.Disposition,
                idv_result=c.IdvResult,
                ani=None if endpoint is None else endpoint.Address,
                previous_contact_id=c.PreviousContactId,
            )
        )
    return out


CONTACTS = Shape("contact", ("Contacts",), _contact, _Contacts, _build_contacts)
