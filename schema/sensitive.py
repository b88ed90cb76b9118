"""What is sensitive, declared in the schema and visible in the SDL as `@sensitive(class: ...)`.

The schema says *what* is sensitive; the gateway's policy decides *who* sees it and how (full,
last 4, BIN + last 4, redacted, hashed or denied). A directive on a leaf masks its value; on an
object or list field it gates the whole field (a denied class never even reaches the system).
"""

from __future__ import annotations

from enum import Enum
from typing import Any, NamedTuple, Protocol

import strawberry
from strawberry.schema_directive import Location

from sources import records

__all__ = [
    "NEUTRAL",
    "PARTIAL_TREATMENTS",
    "Owner",
    "Sensitive",
    "SensitiveClass",
    "VariablySensitive",
    "class_of",
    "contact_owner",
    "customer_owner",
    "derived",
    "neutral_of",
    "read_as_of",
    "sensitive",
    "shown",
]


@strawberry.enum(description="Classes of sensitive data; the role policy maps each to a treatment.")
class SensitiveClass(Enum):
    PII_NATIONAL_ID = "PII_NATIONAL_ID"
    PII_DOB = "PII_DOB"
    PII_ADDRESS = "PII_ADDRESS"
    PII_PHONE = "PII_PHONE"
    PII_EMAIL = "PII_EMAIL"
    PCI_PAN = "PCI_PAN"
    PCI_EXPIRY = "PCI_EXPIRY"
    ACCOUNT_NUMBER = "ACCOUNT_NUMBER"
    BALANCE = "BALANCE"
    TRANSACTIONS = "TRANSACTIONS"
    RISK_SUMMARY = "RISK_SUMMARY"
    FRAUD_DETAIL = "FRAUD_DETAIL"
    COLLECTIONS_DETAIL = "COLLECTIONS_DETAIL"
    CONVERSATION = "CONVERSATION"


PARTIAL_TREATMENTS: dict[SensitiveClass, frozenset[str]] = {
    SensitiveClass.PCI_PAN: frozenset({"last4", "bin_last4"}),
    SensitiveClass.PII_NATIONAL_ID: frozenset({"last4"}),
    SensitiveClass.PII_PHONE: frozenset({"last4"}),
    SensitiveClass.ACCOUNT_NUMBER: frozenset({"last4"}),
}
"""Which classes admit partial treatments; every class admits full, hash, redact and deny."""


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    description="The field carries sensitive data of this class; what a caller sees of it "
    "depends on their roles and on whether the customer is verified on their interaction.",
)
class Sensitive:
    class_: SensitiveClass = strawberry.directive_field(name="class")


READ_AS = "switchboard.read_as"
"""The metadata key of a sensitive field that shows another field's value (see `sensitive`)."""


def sensitive(klass: SensitiveClass, *, read_as: str | None = None, **kwargs: Any) -> Any:
    """A plain-attribute field marked sensitive: `ssn: str | None = sensitive(PII_NATIONAL_ID)`.
    `read_as` ("Customer.dateOfBirth"): the field shows a copy of that field's value (a
    discrepancy's), so it is decided and audited as a read of that field: the same treatment,
    the same audit line, whichever of the two the caller asked for."""
    metadata = {READ_AS: read_as} if read_as is not None else None
    return strawberry.field(directives=[Sensitive(class_=klass)], metadata=metadata, **kwargs)


def read_as_of(definition: Any) -> str | None:
    """The `read_as` coordinate of a strawberry field definition, or None."""
    metadata = getattr(definition, "metadata", None) or {}
    value = metadata.get(READ_AS)
    return None if value is None else str(value)


NEUTRAL = "switchboard.neutral"
"""The metadata key of a derived field's neutral value (see `derived`)."""


def derived(klass: SensitiveClass, neutral: Any, **kwargs: Any) -> Any:
    """A field whose value is derived from data of a sensitive class, on a `VariablySensitive`
    type that says per value whether it is (`Journey.stage` is FRAUD_REVIEW because of a fraud
    hold: RISK_SUMMARY; STEADY derives from nothing sensitive). A caller whose treatment of the
    class is `full` sees the value; any other treatment, `deny` included, shows `neutral`
    instead, without an error (it is what the role may know: a customer "needs a specialist").
    Every such read is audited like the class it derives from. `klass` is what the SDL shows."""
    return strawberry.field(
        directives=[Sensitive(class_=klass)], metadata={NEUTRAL: neutral}, **kwargs
    )


def class_of(definition: Any) -> SensitiveClass | None:
    """The `@sensitive` class of a strawberry field definition, or None: what both executions
    read to decide which fields to mask."""
    for directive in getattr(definition, "directives", None) or ():
        if isinstance(directive, Sensitive):
            return directive.class_
    return None


def neutral_of(definition: Any) -> tuple[bool, Any]:
    """(is the field `derived`, its neutral value) from a strawberry field definition."""
    metadata = getattr(definition, "metadata", None) or {}
    return (NEUTRAL in metadata, metadata.get(NEUTRAL))


def shown(treatment: str, value: Any, neutral: Any) -> Any:
    """The one rule for derived values, in both executions: the value itself only for a caller
    who sees its class in full; anything less reveals no more than the neutral value."""
    return value if treatment == "full" else neutral


class Owner(NamedTuple):
    """Whose data an object is: masking needs it to know whether the customer is verified on
    the caller's interaction, and audit needs it to say which customer was read. (A tuple: one
    is made per customer read, and a frozen dataclass costs 3x as much to build.)"""

    customer_id: str | None
    profile_id: str | None


def customer_owner(record: records.Customer, parent: Owner | None = None) -> Owner:
    """A customer owns everything read through it."""
    return Owner(customer_id=record.id, profile_id=record.ccaas_profile_id)


def contact_owner(record: records.Contact, parent: Owner | None = None) -> Owner:
    """A contact read through a customer is that customer's; read on its own, it belongs to
    its CCaaS profile."""
    return parent if parent is not None else Owner(customer_id=None, profile_id=record.profile_id)


class VariablySensitive(Protocol):
    """An object whose field's class depends on the value (a journey event's summary is a
    conversation, a transaction or fraud detail, depending on where the event came from)."""

    def sensitive_class(self, field: str) -> SensitiveClass | None: ...
