"""Plain records decoded from the systems of record. No GraphQL, no HTTP: just data.

Field names follow Switchboard's vocabulary, not each vendor's; the decoders in each client map
vendor shapes onto these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

__all__ = [
    "Account",
    "Address",
    "Article",
    "Card",
    "Case",
    "Contact",
    "CoreEvent",
    "Customer",
    "Party",
    "Phone",
    "Risk",
    "Transaction",
]


@dataclass(frozen=True, slots=True)
class Phone:
    type: str
    number: str


@dataclass(frozen=True, slots=True)
class Address:
    street: str
    city: str
    state: str
    postal_code: str
    country: str


@dataclass(frozen=True, slots=True)
class Customer:
    """The CRM's customer record; `id` is the CRM id, the gateway's `Customer.id`."""

    id: str
    first_name: str
    last_name: str
    date_of_birth: date | None
    ssn: str | None
    phones: tuple[Phone, ...]
    emails: tuple[str, ...]
    address: Address | None
    segment: str
    preferred_language: str | None
    core_party_id: str | None
    ccaas_profile_id: str | None
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class Party:
    """The core's own (KYC) copy of a customer's identity: what it opened the accounts with.
    The CRM's record is the one the gateway shows; this one is only compared with it
    (resolvers/discrepancies.py). Phones keep the core's format."""

    id: str
    name: str
    date_of_birth: date | None
    email: str | None
    home_phone: str | None
    mobile_phone: str | None
    address: Address | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    number: str
    customer_id: str
    subject: str
    status: str
    priority: str
    category: str
    opened_at: datetime
    updated_at: datetime
    owner: str | None

    @property
    def is_open(self) -> bool:
        return self.status != "Closed"


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    party_id: str
    type: str
    product_name: str
    status: str
    currency: str
    account_number: str
    balance: Decimal
    available_balance: Decimal | None
    opened_on: date
    days_past_due: int


@dataclass(frozen=True, slots=True)
class Transaction:
    id: str
    account_id: str
    posted_at: datetime
    amount: Decimal
    """Signed: debits are negative."""
    currency: str
    description: str
    status: str
    merchant: str | None


@dataclass(frozen=True, slots=True)
class Card:
    id: str
    party_id: str
    account_id: str
    pan: str
    brand: str
    status: str
    expiry: str


@dataclass(frozen=True, slots=True)
class Risk:
    party_id: str
    fraud_hold: bool
    fraud_reason: str | None
    collections_status: str
    days_past_due: int


@dataclass(frozen=True, slots=True)
class CoreEvent:
    id: str
    party_id: str
    type: str
    time: datetime
    summary: str
    ref_id: str | None


@dataclass(frozen=True, slots=True)
class Contact:
    """A CCaaS contact: a voice call, chat, IVR or bot session."""

    id: str
    profile_id: str | None
    """The caller's CCaaS profile; None for a caller the CCaaS system does not know (a phone
    it has no profile for): the gateway then finds the customers by the contact's `ani`."""
    channel: str
    direction: str
    started_at: datetime
    ended_at: datetime | None
    state: str
    queue: str | None
    agent_id: str | None
    intent: str | None
    summary: str | None
    disposition: str | None
    idv_result: str
    ani: str | None
    previous_contact_id: str | None

    @property
    def verified(self) -> bool:
        return self.idv_result == "PASSED"


@dataclass(frozen=True, slots=True)
class Article:
    id: str
    title: str
    summary: str
    url: str
    intents: tuple[str, ...]
    updated_at: datetime | None


# The closed vocabularies each system documents; decoders refuse anything else, so the schema's
# enums never meet a value they cannot represent.
SEGMENTS = frozenset({"MASS", "PREMIER", "PRIVATE"})
PHONE_TYPES = frozenset({"Mobile", "Home", "Work"})
CASE_STATUSES = frozenset({"New", "Working", "Escalated", "Closed"})
CASE_PRIORITIES = frozenset({"Low", "Medium", "High"})
CASE_TYPES = frozenset({"Billing", "Card", "Fraud", "Payments", "Account", "Complaint"})
ACCOUNT_TYPES = frozenset({"CHECKING", "SAVINGS", "CREDIT_CARD", "LOAN"})
ACCOUNT_STATUSES = frozenset({"Enabled", "Disabled", "Pending"})
TRANSACTION_STATUSES = frozenset({"BOOK", "PDNG", "RJCT"})
CARD_BRANDS = frozenset({"VISA", "MASTERCARD"})
CARD_STATUSES = frozenset({"Active", "Blocked", "Expired"})
COLLECTIONS_STATUSES = frozenset({"CURRENT", "DELINQUENT", "ARRANGEMENT", "CHARGED_OFF"})
CORE_EVENT_TYPES = frozenset(
    {"PAYMENT_POSTED", "FRAUD_ALERT", "CARD_BLOCKED", "ACCOUNT_OPENED", "FEE_CHARGED"}
)
CHANNELS = frozenset({"VOICE", "CHAT", "IVR", "BOT"})
DIRECTIONS = frozenset({"INBOUND", "OUTBOUND", "TRANSFER", "CALLBACK"})
CONTACT_STATES = frozenset({"QUEUED", "CONNECTED", "ENDED"})
IDV_RESULTS = frozenset({"PASSED", "FAILED", "NOT_ATTEMPTED"})
