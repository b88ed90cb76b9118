"""Plain records decoded from the systems of record. No GraphQL, no HTTP: just data.

Field names follow Switchboard's vocabulary, not each vendor's; the decoders in each client map
vendor shapes onto these.

Each record is a frozen `msgspec.Struct` without garbage-collector tracking (`gc=False`): built
in C (~0.1 us against ~1 us for a frozen dataclass's `object.__setattr__` per field), immutable
and hashable like the frozen dataclasses they replace, and never seen by the collector, which
thousands of records per supervisor list otherwise keep busy. A record holds only strings,
numbers, dates and tuples of other records: nothing that could close a reference cycle, which
`gc=False` needs.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal, get_args

import msgspec

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


class Phone(msgspec.Struct, frozen=True, gc=False):
    type: str
    number: str


class Address(msgspec.Struct, frozen=True, gc=False):
    street: str
    city: str
    state: str
    postal_code: str
    country: str


class Customer(msgspec.Struct, frozen=True, gc=False):
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


class Party(msgspec.Struct, frozen=True, gc=False):
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


class Case(msgspec.Struct, frozen=True, gc=False):
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


class Account(msgspec.Struct, frozen=True, gc=False):
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


class Transaction(msgspec.Struct, frozen=True, gc=False):
    id: str
    account_id: str
    posted_at: datetime
    amount: Decimal
    """Signed: debits are negative."""
    currency: str
    description: str
    status: str
    merchant: str | None


class Card(msgspec.Struct, frozen=True, gc=False):
    id: str
    party_id: str
    account_id: str
    pan: str
    brand: str
    status: str
    expiry: str


class Risk(msgspec.Struct, frozen=True, gc=False):
    party_id: str
    fraud_hold: bool
    fraud_reason: str | None
    collections_status: str
    days_past_due: int


class CoreEvent(msgspec.Struct, frozen=True, gc=False):
    id: str
    party_id: str
    type: str
    time: datetime
    summary: str
    ref_id: str | None


class Contact(msgspec.Struct, frozen=True, gc=False):
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


class Article(msgspec.Struct, frozen=True, gc=False):
    id: str
    title: str
    summary: str
    url: str
    intents: tuple[str, ...]
    updated_at: datetime | None


# The closed vocabularies each system documents; decoders refuse anything else, so the schema's
# enums never meet a value they cannot represent. Each is a `Literal` (checked in C by the msgspec
# decoders, sources/_decode.py) and the same values as a frozenset (the reference decoder's check).
Segment = Literal["MASS", "PREMIER", "PRIVATE"]
PhoneType = Literal["Mobile", "Home", "Work"]
CaseStatus = Literal["New", "Working", "Escalated", "Closed"]
CasePriority = Literal["Low", "Medium", "High"]
CaseType = Literal["Billing", "Card", "Fraud", "Payments", "Account", "Complaint"]
AccountType = Literal["CHECKING", "SAVINGS", "CREDIT_CARD", "LOAN"]
AccountStatus = Literal["Enabled", "Disabled", "Pending"]
TransactionStatus = Literal["BOOK", "PDNG", "RJCT"]
CardBrand = Literal["VISA", "MASTERCARD"]
CardStatus = Literal["Active", "Blocked", "Expired"]
CollectionsStatus = Literal["CURRENT", "DELINQUENT", "ARRANGEMENT", "CHARGED_OFF"]
CoreEventType = Literal[
    "PAYMENT_POSTED", "FRAUD_ALERT", "CARD_BLOCKED", "ACCOUNT_OPENED", "FEE_CHARGED"
]
Channel = Literal["VOICE", "CHAT", "IVR", "BOT"]
Direction = Literal["INBOUND", "OUTBOUND", "TRANSFER", "CALLBACK"]
ContactState = Literal["QUEUED", "CONNECTED", "ENDED"]
IdvResult = Literal["PASSED", "FAILED", "NOT_ATTEMPTED"]

SEGMENTS = frozenset(get_args(Segment))
PHONE_TYPES = frozenset(get_args(PhoneType))
CASE_STATUSES = frozenset(get_args(CaseStatus))
CASE_PRIORITIES = frozenset(get_args(CasePriority))
CASE_TYPES = frozenset(get_args(CaseType))
ACCOUNT_TYPES = frozenset(get_args(AccountType))
ACCOUNT_STATUSES = frozenset(get_args(AccountStatus))
TRANSACTION_STATUSES = frozenset(get_args(TransactionStatus))
CARD_BRANDS = frozenset(get_args(CardBrand))
CARD_STATUSES = frozenset(get_args(CardStatus))
COLLECTIONS_STATUSES = frozenset(get_args(CollectionsStatus))
CORE_EVENT_TYPES = frozenset(get_args(CoreEventType))
CHANNELS = frozenset(get_args(Channel))
DIRECTIONS = frozenset(get_args(Direction))
CONTACT_STATES = frozenset(get_args(ContactState))
IDV_RESULTS = frozenset(get_args(IdvResult))
