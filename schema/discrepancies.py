"""`Customer.discrepancies`: where the CRM and the core disagree about who the customer is.

What a discrepancy is, and when two values are only formatted differently, is decided once in
resolvers/discrepancies.py; here the records become the schema's types. Each value is shown
through the field it is a copy of: a phone as a `PhoneNumber`, an address as an `Address`, a
date of birth or an email `read_as` the customer's own field, so a caller sees of a discrepancy
exactly what they see of the field itself (the same policy entry, verification and audit line).
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from resolvers import discrepancies as reconcile
from sources import records

from .binding import Binding, Child, Read
from .enums import JourneySystem, PhoneType
from .sensitive import Owner, sensitive
from .sensitive import SensitiveClass as S
from .types import Address, PhoneNumber

__all__ = [
    "DISCREPANCY_BINDING",
    "DISCREPANCY_VALUE_BINDING",
    "Discrepancy",
    "DiscrepancyField",
    "DiscrepancySeverity",
    "DiscrepancyValue",
]


@strawberry.enum(description="A customer field that two systems hold.")
class DiscrepancyField(Enum):
    NAME = "NAME"
    DATE_OF_BIRTH = "DATE_OF_BIRTH"
    PHONE = "PHONE"
    EMAIL = "EMAIL"
    ADDRESS = "ADDRESS"


@strawberry.enum(
    description="HIGH: a phone, address or date of birth (verification, mail and calls go "
    "astray); MEDIUM: an email, or a name that differs in letters; LOW: a name that differs "
    "only in diacritics."
)
class DiscrepancySeverity(Enum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


def _phone(p: records.Phone | None, owner: Owner) -> PhoneNumber | None:
    return None if p is None else PhoneNumber(number=p.number, type=PhoneType(p.type), owner=owner)


def _address(a: records.Address | None, owner: Owner) -> Address | None:
    if a is None:
        return None
    return Address(
        street=a.street,
        city=a.city,
        state=a.state,
        postal_code=a.postal_code,
        country=a.country,
        owner=owner,
    )


@strawberry.type(
    description="One system's value of a discrepant field: the one of name, dateOfBirth, "
    "email, phone or address that the discrepancy is about (the others are null), masked as "
    "the customer's own field is."
)
class DiscrepancyValue:
    system: JourneySystem
    name: str | None
    date_of_birth: str | None = sensitive(
        S.PII_DOB, read_as="Customer.dateOfBirth", description="ISO 8601 date."
    )
    email: str | None = sensitive(S.PII_EMAIL, read_as="Customer.emails")
    phone: PhoneNumber | None = strawberry.field(description="In E.164 when it can be read.")
    address: Address | None = sensitive(S.PII_ADDRESS, read_as="Customer.address")
    owner: strawberry.Private[Owner]

    @classmethod
    def of(cls, r: reconcile.Value, owner: Owner) -> DiscrepancyValue:
        return cls(
            system=JourneySystem(r.system),
            name=r.name,
            date_of_birth=r.date_of_birth,
            email=r.email,
            phone=_phone(r.phone, owner),
            address=_address(r.address, owner),
            owner=owner,
        )


DISCREPANCY_VALUE_BINDING: dict[str, Binding] = {
    "phone": Child(lambda r, a: r.phone),
    "address": Child(lambda r, a: r.address),
}


@strawberry.type(
    description="The CRM and the core disagree on this field once format is set aside "
    "(phones compared in E.164; names and addresses after Unicode NFKC, case folding and "
    "collapsing punctuation and spaces; postal codes upper-cased without spaces). Nothing is "
    "stored or merged: confirm with the customer."
)
class Discrepancy:
    field: DiscrepancyField
    systems: list[JourneySystem]
    severity: DiscrepancySeverity
    since: datetime | None = strawberry.field(
        description="The later of the two records' last update times, where a system gives one."
    )
    values: list[DiscrepancyValue] = strawberry.field(description="In the order of `systems`.")
    owner: strawberry.Private[Owner]

    @classmethod
    def of(cls, r: reconcile.Discrepancy, owner: Owner) -> Discrepancy:
        return cls(
            field=DiscrepancyField(r.field),
            systems=[JourneySystem(s) for s in r.systems],
            severity=DiscrepancySeverity(r.severity),
            since=r.since,
            values=[DiscrepancyValue.of(v, owner) for v in r.values],
            owner=owner,
        )


DISCREPANCY_BINDING: dict[str, Binding] = {
    "systems": Read(lambda r: list(r.systems)),
    "values": Child(lambda r, a: r.values),
}
