"""The CRM: customer identity, contact points, external ids and cases (Salesforce-flavoured)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from . import _crm_answers as answers
from ._client import SourceClient
from ._decode import Reader, Shape
from ._errors import SourceBadResponse, WriteRejected
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

__all__ = ["CrmClient", "CrmObject", "CustomerKey", "Upserted"]

CustomerKey = Literal["id", "coreId", "ccaasId"]
CrmObject = Literal["Task", "CaseComment", "Case"]
_OBJECTS = ("Task", "CaseComment", "Case")
_EXTERNAL_ID = re.compile(r"[A-Za-z0-9_.-]{8,80}")
"""What an external id may be: long enough that it was derived, never empty, and safe in a path
segment without escaping."""
_REFERENCES: dict[tuple[str, str], str] = {("Task", "Who"): "Contact"}
"""Relationships a write may name by the parent's external id, as `"<Relationship>.<Field>":
value` (Salesforce's `RelationshipName.IndexedFieldName`): (object, relationship) -> the entity
named (Who is polymorphic, so the body says which). Sent as `"Who": {"attributes": {"type":
"Contact"}, "<Field>": value}` and resolved by the CRM when the write lands, now or from the
outbox. Each is optional: a CRM that knows no record with that key answers "Foreign key external
ID ... not found", and the record is written without the relationship (a Task about a caller the
CRM does not know) — the one place that rule lives, whenever and wherever the write is
delivered."""


@dataclass(frozen=True, slots=True)
class Upserted:
    record_id: str
    created: bool


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
            CUSTOMERS,
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
        return await self.fetch("/customers/search", [param], CUSTOMERS)

    async def cases(self, customer_ids: Iterable[str]) -> list[Case]:
        """Every case of these customers, open and closed."""
        return await self.batch(
            "/cases",
            "customerId",
            customer_ids,
            CASES,
            asked=lambda c: c.customer_id,
            ident=lambda c: c.id,
        )

    async def upsert(
        self,
        obj: CrmObject,
        external_id: str,
        fields: Mapping[str, str | None],
        *,
        budget: float | None = None,
    ) -> Upserted:
        """Create or update the `obj` record whose `ExternalId__c` is `external_id` (one PATCH,
        Salesforce's upsert by external id): the same external id always lands on the same
        record, so a retry after an ambiguous failure cannot make a second one. Raises
        `WriteRejected` on a final answer (4xx; 300: several records have that id) and another
        `SourceError` (unavailable, timeout, circuit open, ...) when it may be retried.
        Never sent without an external id. A field `"Who.CcaasProfile__c": profile` names the
        Task's customer by external id (`_REFERENCES`): resolved by the CRM, or, when it knows no
        such customer, the Task written without it (a second PATCH, same external id)."""
        if obj not in _OBJECTS:
            raise ValueError(f"obj must be one of {', '.join(_OBJECTS)}")
        if not _EXTERNAL_ID.fullmatch(external_id):
            raise ValueError("a write needs its external id (8-80 of [A-Za-z0-9_.-])")
        path = f"/sobjects/{obj}/ExternalId__c/{external_id}"
        body, references = _body(obj, fields)
        started = time.monotonic()
        status, answer = await self.transport.patch_json(path, orjson.dumps(body), budget)
        unknown = _missing_parent(status, answer, references)
        if unknown is not None:  # the same external id again: a retry of either is safe
            body = {name: value for name, value in body.items() if name != unknown}
            left = None if budget is None else max(budget - (time.monotonic() - started), 0.001)
            status, answer = await self.transport.patch_json(path, orjson.dumps(body), left)
        if status in (200, 201) and isinstance(answer, dict):
            record_id = answer.get("id")
            if isinstance(record_id, str) and record_id and answer.get("success") is True:
                return Upserted(record_id, status == 201)
        if status == 300:
            raise WriteRejected(
                self.name,
                "DUPLICATE_EXTERNAL_ID",
                f"{self.name} has several {obj} records with that external id",
            )
        if 400 <= status < 500:
            reason, message = _sf_error(answer, status)
            raise WriteRejected(self.name, reason, f"{self.name} refused the {obj}: {message}")
        raise SourceBadResponse(self.name, f"{self.name} answered a write unexpectedly ({status})")


def _body(
    obj: str, fields: Mapping[str, str | None]
) -> tuple[dict[str, Any], dict[str, tuple[str, str, str]]]:
    """The JSON body, `"<Relationship>.<Field>"` entries as relationship objects; and those
    relationships: name -> (entity, field, value)."""
    body: dict[str, Any] = {}
    references: dict[str, tuple[str, str, str]] = {}
    for name, value in fields.items():
        relationship, dot, key = name.partition(".")
        if not dot:
            body[name] = value
            continue
        entity = _REFERENCES.get((obj, relationship))
        if entity is None or not key or value is None:
            raise ValueError(f"{obj} has no relationship {name!r} (or it names no value)")
        body[relationship] = {"attributes": {"type": entity}, key: value}
        references[relationship] = (entity, key, value)
    return body, references


def _missing_parent(
    status: int, answer: Any, references: Mapping[str, tuple[str, str, str]]
) -> str | None:
    """The relationship the CRM found no parent for (Salesforce: 400 INVALID_FIELD "Foreign key
    external ID: <value> not found for field <field> in entity <entity>"), or None."""
    first = answer[0] if status == 400 and isinstance(answer, list) and answer else None
    if not isinstance(first, dict) or first.get("errorCode") != "INVALID_FIELD":
        return None
    message = first.get("message")
    for relationship, (entity, key, value) in references.items():
        expected = f"Foreign key external ID: {value} not found for field {key} in entity {entity}"
        if message == expected:
            return relationship
    return None


def _sf_error(answer: Any, status: int) -> tuple[str, str]:
    """Salesforce's `[{"message", "errorCode", "fields"}]` -> (code, message); the message is
    rebuilt from the code and the field names so no upstream text (or value) leaks through."""
    first = answer[0] if isinstance(answer, list) and answer else {}
    code = first.get("errorCode") if isinstance(first, dict) else None
    if not isinstance(code, str) or not re.fullmatch(r"[A-Z_]{1,64}", code):
        code = "NOT_FOUND" if status == 404 else "INVALID_REQUEST"
    names = first.get("fields") if isinstance(first, dict) else None
    shown = (
        [n for n in names if isinstance(n, str) and re.fullmatch(r"\w{1,64}", n)]
        if isinstance(names, list)
        else []
    )
    return code, code.lower().replace("_", " ") + (f" ({', '.join(shown)})" if shown else "")


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


CUSTOMERS = Shape("customer", ("records",), _customer, answers.Customers, answers.customers)
CASES = Shape("case", ("records",), _case, answers.Cases, answers.cases)
