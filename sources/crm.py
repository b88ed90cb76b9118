"""The CRM: customer identity, contact points, external ids and cases (Salesforce-flavoured)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

from ._client import SourceClient
from ._decode import Reader
from .records import (
    CASE_PRIORITIES,
    CASE_STATUSES,
    CASE_TYPES,
    PHONE_TYPES,
    SEGMENTS,
    Address,
    Case,
    Customer,
    Phone,
)

__all__ = ["CrmClient", "CustomerKey"]

CustomerKey = Literal["id", "coreId", "ccaasId"]

_ASKED_BY: dict[str, Callable[[Customer], str | None]] = {
    "id": lambda c: c.id,
    "coreId": lambda c: c.core_party_id,
    "ccaasId": lambda c: c.ccaas_profile_id,
}


class CrmClient(SourceClient):
    async def customers(self, key: CustomerKey, values: Iterable[str]) -> list[Customer]:
        """Customers by CRM id or by their id in another system; unknown values are absent."""
        return await self.batch(
            "/customers",
            key,
            values,
            ("records",),
            "customer",
            _customer,
            asked=_ASKED_BY[key],
            ident=lambda c: c.id,
        )

    async def search_customers(
        self, *, phone: str | None = None, email: str | None = None
    ) -> list[Customer]:
        """0..n customers sharing a phone (E.164) or an email."""
        if phone is not None and email is None:
            param = ("phone", phone)
        elif email is not None and phone is None:
            param = ("email", email)
        else:
            raise ValueError("search by exactly one of phone or email")
        return await self.fetch("/customers/search", [param], ("records",), "customer", _customer)

    async def cases(self, customer_ids: Iterable[str]) -> list[Case]:
        """Every case of these customers, open and closed."""
        return await self.batch(
            "/cases",
            "customerId",
            customer_ids,
            ("records",),
            "case",
            _case,
            asked=lambda c: c.customer_id,
            ident=lambda c: c.id,
        )


def _customer(r: Reader) -> Customer:
    address = r.obj("MailingAddress", "address")
    return Customer(
        id=r.text("Id"),
        first_name=r.text("FirstName"),
        last_name=r.text("LastName"),
        date_of_birth=r.opt_day("Birthdate"),
        ssn=r.opt_text("SSN__c"),
        phones=tuple(
            Phone(type=p.choice("Type", PHONE_TYPES), number=p.text("Number"))
            for p in r.objects("Phones", "phone")
        ),
        emails=r.texts("Emails"),
        address=None
        if address is None
        else Address(
            street=address.text("street"),
            city=address.text("city"),
            state=address.text("state"),
            postal_code=address.text("postalCode"),
            country=address.text("country"),
        ),
        segment=r.choice("Segment__c", SEGMENTS),
        preferred_language=r.opt_text("PreferredLanguage__c"),
        core_party_id=r.opt_text("CoreParty__c"),
        ccaas_profile_id=r.opt_text("CcaasProfile__c"),
        created_at=r.opt_instant("CreatedDate"),
    )


def _case(r: Reader) -> Case:
    return Case(
        id=r.text("Id"),
        number=r.text("CaseNumber"),
        customer_id=r.text("ContactId"),
        subject=r.text("Subject"),
        status=r.choice("Status", CASE_STATUSES),
        priority=r.choice("Priority", CASE_PRIORITIES),
        category=r.choice("Type", CASE_TYPES),
        opened_at=r.instant("CreatedDate"),
        updated_at=r.instant("LastModifiedDate"),
        owner=r.opt_text("OwnerName"),
    )
