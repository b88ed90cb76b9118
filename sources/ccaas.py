"""The CCaaS contact platform: voice, chat, IVR and bot contacts (Amazon Connect-flavoured)."""

from __future__ import annotations

from collections.abc import Iterable

from ._client import SourceClient
from ._decode import Reader
from .records import CHANNELS, CONTACT_STATES, DIRECTIONS, IDV_RESULTS, Contact

__all__ = ["CcaasClient"]

_ENVELOPE = ("Contacts",)


class CcaasClient(SourceClient):
    async def contacts(self, contact_ids: Iterable[str]) -> list[Contact]:
        return await self.batch(
            "/contacts",
            "id",
            contact_ids,
            _ENVELOPE,
            "contact",
            _contact,
            asked=lambda c: c.id,
            ident=lambda c: c.id,
        )

    async def contacts_of(self, profile_ids: Iterable[str], per_profile: int) -> list[Contact]:
        """The newest `per_profile` contacts of each profile."""
        return await self.batch(
            "/contacts",
            "profileId",
            profile_ids,
            _ENVELOPE,
            "contact",
            _contact,
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
