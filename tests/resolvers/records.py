"""Records the resolver tests' fake back ends answer with: only the fields the loaders follow
(a customer's ids in the other systems) vary; the rest are fixed placeholders."""

from __future__ import annotations

from sources.records import Customer

__all__ = ["customer"]


def customer(crm_id: str, *, party: str | None = None, profile: str | None = None) -> Customer:
    """A CRM customer whose core party id and CCaaS profile id are `party` and `profile`."""
    return Customer(
        id=crm_id,
        first_name="A",
        last_name="B",
        date_of_birth=None,
        ssn=None,
        phones=(),
        emails=(),
        address=None,
        segment="MASS",
        preferred_language=None,
        core_party_id=party,
        ccaas_profile_id=profile,
        created_at=None,
    )
