"""The CRM's answers as it sends them (Salesforce-style `records` envelopes), decoded in C by
msgspec, and their mapping onto records: the fast way of sources/_decode.py (the conventions of
sources/_core_answers.py)."""

from __future__ import annotations

from datetime import date

import msgspec

from ._decode import parse_instant
from .records import (
    Address,
    Case,
    CasePriority,
    CaseStatus,
    CaseType,
    Customer,
    Phone,
    PhoneType,
    Segment,
)


class _Phone(msgspec.Struct, gc=False):
    Type: PhoneType
    Number: str


class _MailingAddress(msgspec.Struct, gc=False):
    street: str
    city: str
    state: str
    postalCode: str
    country: str


class _Customer(msgspec.Struct, gc=False):
    Id: str
    FirstName: str
    LastName: str
    Segment__c: Segment
    Birthdate: date | None = None
    SSN__c: str | None = None
    Phones: list[_Phone] | None = None
    Emails: list[str] | None = None
    MailingAddress: _MailingAddress | None = None
    PreferredLanguage__c: str | None = None
    CoreParty__c: str | None = None
    CcaasProfile__c: str | None = None
    CreatedDate: str | None = None


class Customers(msgspec.Struct, gc=False):
    records: list[_Customer]


def customers(answer: Customers) -> list[Customer]:
    out = []
    for c in answer.records:
        address = c.MailingAddress
        created = c.CreatedDate
        out.append(
            Customer(
                id=c.Id,
                first_name=c.FirstName,
                last_name=c.LastName,
                date_of_birth=c.Birthdate,
                ssn=c.SSN__c,
                phones=tuple(Phone(type=p.Type, number=p.Number) for p in c.Phones or ()),
                emails=tuple(c.Emails or ()),
                address=None
                if address is None
                else Address(
                    street=address.street,
                    city=address.city,
                    state=address.state,
                    postal_code=address.postalCode,
                    country=address.country,
                ),
                segment=c.Segment__c,
                preferred_language=c.PreferredLanguage__c,
                core_party_id=c.CoreParty__c,
                ccaas_profile_id=c.CcaasProfile__c,
                created_at=None if created is None else parse_instant(created),
            )
        )
    return out


class _Case(msgspec.Struct, gc=False):
    Id: str
    CaseNumber: str
    ContactId: str
    Subject: str
    Status: CaseStatus
    Priority: CasePriority
    Type: CaseType
    CreatedDate: str
    LastModifiedDate: str
    OwnerName: str | None = None


class Cases(msgspec.Struct, gc=False):
    records: list[_Case]


def cases(answer: Cases) -> list[Case]:
    return [
        Case(
            id=c.Id,
            number=c.CaseNumber,
            customer_id=c.ContactId,
            subject=c.Subject,
            status=c.Status,
            priority=c.Priority,
            category=c.Type,
            opened_at=parse_instant(c.CreatedDate),
            updated_at=parse_instant(c.LastModifiedDate),
            owner=c.OwnerName,
        )
        for c in answer.records
    ]
