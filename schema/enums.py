"""The schema's closed vocabularies. Values mirror what the systems send (sources.records)."""

from __future__ import annotations

from enum import Enum

import strawberry

__all__ = [
    "AccountStatus",
    "AccountType",
    "CardBrand",
    "CardStatus",
    "CaseCategory",
    "CaseFilter",
    "CasePriority",
    "CaseStatus",
    "Channel",
    "CollectionsStatus",
    "ContactState",
    "Direction",
    "IdvResult",
    "JourneyStage",
    "JourneySystem",
    "OpenItemKind",
    "PhoneType",
    "Segment",
    "TransactionStatus",
]


@strawberry.enum(description="Customer value segment, from the CRM.")
class Segment(Enum):
    MASS = "MASS"
    PREMIER = "PREMIER"
    PRIVATE = "PRIVATE"


@strawberry.enum
class PhoneType(Enum):
    MOBILE = "Mobile"
    HOME = "Home"
    WORK = "Work"


@strawberry.enum
class AccountType(Enum):
    CHECKING = "CHECKING"
    SAVINGS = "SAVINGS"
    CREDIT_CARD = "CREDIT_CARD"
    LOAN = "LOAN"


@strawberry.enum(description="Open Banking account status.")
class AccountStatus(Enum):
    ENABLED = "Enabled"
    DISABLED = "Disabled"
    PENDING = "Pending"


@strawberry.enum(description="Open Banking transaction status: booked, pending, rejected.")
class TransactionStatus(Enum):
    BOOKED = "BOOK"
    PENDING = "PDNG"
    REJECTED = "RJCT"


@strawberry.enum
class CardBrand(Enum):
    VISA = "VISA"
    MASTERCARD = "MASTERCARD"


@strawberry.enum
class CardStatus(Enum):
    ACTIVE = "Active"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"


@strawberry.enum
class CollectionsStatus(Enum):
    CURRENT = "CURRENT"
    DELINQUENT = "DELINQUENT"
    ARRANGEMENT = "ARRANGEMENT"
    CHARGED_OFF = "CHARGED_OFF"


@strawberry.enum
class Channel(Enum):
    VOICE = "VOICE"
    CHAT = "CHAT"
    IVR = "IVR"
    BOT = "BOT"


@strawberry.enum
class Direction(Enum):
    INBOUND = "INBOUND"
    OUTBOUND = "OUTBOUND"
    TRANSFER = "TRANSFER"
    CALLBACK = "CALLBACK"


@strawberry.enum
class ContactState(Enum):
    QUEUED = "QUEUED"
    CONNECTED = "CONNECTED"
    ENDED = "ENDED"


@strawberry.enum(description="Identification & verification result of a contact.")
class IdvResult(Enum):
    PASSED = "PASSED"
    FAILED = "FAILED"
    NOT_ATTEMPTED = "NOT_ATTEMPTED"


@strawberry.enum
class CaseStatus(Enum):
    NEW = "New"
    WORKING = "Working"
    ESCALATED = "Escalated"
    CLOSED = "Closed"


@strawberry.enum
class CasePriority(Enum):
    LOW = "Low"
    MEDIUM = "Medium"
    HIGH = "High"


@strawberry.enum
class CaseCategory(Enum):
    BILLING = "Billing"
    CARD = "Card"
    FRAUD = "Fraud"
    PAYMENTS = "Payments"
    ACCOUNT = "Account"
    COMPLAINT = "Complaint"


@strawberry.enum(description="Which cases to list: open (any status but CLOSED), closed, or all.")
class CaseFilter(Enum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"
    ALL = "ALL"


@strawberry.enum(description="Where the customer stands, derived from every system at read time.")
class JourneyStage(Enum):
    NEEDS_SPECIALIST = strawberry.enum_value(
        "NEEDS_SPECIALIST",
        description="FRAUD_REVIEW or COLLECTIONS, for a caller who may not see which.",
    )
    FRAUD_REVIEW = "FRAUD_REVIEW"
    COLLECTIONS = "COLLECTIONS"
    IN_CONTACT = "IN_CONTACT"
    REPEAT_CONTACT = "REPEAT_CONTACT"
    CASE_OPEN = "CASE_OPEN"
    RECENTLY_CONTACTED = "RECENTLY_CONTACTED"
    STEADY = "STEADY"


@strawberry.enum
class JourneySystem(Enum):
    CRM = "CRM"
    CORE = "CORE"
    CCAAS = "CCAAS"
    KNOWLEDGE = "KNOWLEDGE"


@strawberry.enum
class OpenItemKind(Enum):
    LIVE_CONTACT = "LIVE_CONTACT"
    CASE = "CASE"
    FRAUD_HOLD = "FRAUD_HOLD"
    PAST_DUE = "PAST_DUE"
    NEEDS_SPECIALIST = strawberry.enum_value(
        "NEEDS_SPECIALIST",
        description="FRAUD_HOLD or PAST_DUE, for a caller who may not see which.",
    )
    DATA_MISMATCH = strawberry.enum_value(
        "DATA_MISMATCH",
        description="The CRM and the core disagree about a field (Customer.discrepancies): "
        "confirm with the customer. The summary names the field, never the values.",
    )
