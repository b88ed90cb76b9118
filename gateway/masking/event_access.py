"""The access of one subscription event (`screenPops`): no X-Interaction-Id names the contact,
the event does, and the CCaaS system is re-read for it before anything is shown. The same
`Verification` rules as a request's: verified only while the contact is live, the subscriber's
own and its ID&V passed, and only for a workforce issuer; then only its customer."""

from __future__ import annotations

from gateway.auth.authenticator import Principal
from gateway.masking.access import Access
from gateway.masking.guard import Guard
from gateway.masking.verification import Verification
from sources.records import Contact

__all__ = ["event_access"]


async def event_access(guard: Guard, principal: Principal, contact: Contact) -> Access:
    """A fresh Access for one event: its decisions and audit reads are that event's alone."""

    async def confirmed() -> Contact | None:
        return contact  # already re-read from the CCaaS system by the caller, this event

    verification = Verification(None, principal.subject, confirmed, may_verify=principal.may_verify)
    await verification.settle()  # answered: `reason()` reports on it like a request's
    return Access(guard.policy, guard.masker, principal, verification, interaction_id=contact.id)
