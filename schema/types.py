"""The unified graph's object types. Leaves are plain attributes (no resolver, no extension: the
fast path, ~3 us per field); only fields that reach another system are async resolvers, and they
go through the request's loaders so siblings batch into one call per source resource."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import strawberry

from resolvers import JOURNEY_WINDOW, load_journey, recent_intents
from resolvers import Journey as JourneyRecord
from resolvers.journey import JourneyEvent as JourneyEventRecord
from resolvers.journey import OpenItem as OpenItemRecord
from sources import records

from ._limits import first_in_range
from .context import Info
from .enums import (
    AccountStatus,
    AccountType,
    CardBrand,
    CardStatus,
    CaseCategory,
    CaseFilter,
    CasePriority,
    CaseStatus,
    Channel,
    CollectionsStatus,
    ContactState,
    Direction,
    IdvResult,
    JourneyStage,
    JourneySystem,
    OpenItemKind,
    PhoneType,
    Segment,
    TransactionStatus,
)

__all__ = [
    "Account",
    "Address",
    "Article",
    "Card",
    "Case",
    "Customer",
    "Interaction",
    "Journey",
    "JourneyEvent",
    "OpenItem",
    "PhoneNumber",
    "RiskProfile",
    "Transaction",
]


@strawberry.type
class PhoneNumber:
    number: str = strawberry.field(description="E.164.")
    type: PhoneType


@strawberry.type
class Address:
    street: str
    city: str
    state: str
    postal_code: str
    country: str


@strawberry.type(description="A knowledge-base article.")
class Article:
    id: strawberry.ID
    title: str
    summary: str
    url: str
    intents: list[str]

    @classmethod
    def of(cls, r: records.Article) -> Article:
        return cls(
            id=strawberry.ID(r.id),
            title=r.title,
            summary=r.summary,
            url=r.url,
            intents=list(r.intents),
        )


@strawberry.type(description="A CRM case.")
class Case:
    id: strawberry.ID
    number: str
    subject: str
    status: CaseStatus
    priority: CasePriority
    category: CaseCategory
    opened_at: datetime
    updated_at: datetime
    owner: str | None

    @classmethod
    def of(cls, r: records.Case) -> Case:
        return cls(
            id=strawberry.ID(r.id),
            number=r.number,
            subject=r.subject,
            status=CaseStatus(r.status),
            priority=CasePriority(r.priority),
            category=CaseCategory(r.category),
            opened_at=r.opened_at,
            updated_at=r.updated_at,
            owner=r.owner,
        )


@strawberry.type(description="A posted or pending transaction; `amount` is negative for debits.")
class Transaction:
    id: strawberry.ID
    posted_at: datetime
    amount: Decimal
    currency: str
    description: str
    status: TransactionStatus
    merchant: str | None

    @classmethod
    def of(cls, r: records.Transaction) -> Transaction:
        return cls(
            id=strawberry.ID(r.id),
            posted_at=r.posted_at,
            amount=r.amount,
            currency=r.currency,
            description=r.description,
            status=TransactionStatus(r.status),
            merchant=r.merchant,
        )


@strawberry.type(description="An account held in the core system of record.")
class Account:
    id: strawberry.ID
    type: AccountType
    product_name: str
    status: AccountStatus
    currency: str
    account_number: str
    balance: Decimal
    available_balance: Decimal | None
    opened_on: date
    days_past_due: int

    @classmethod
    def of(cls, r: records.Account) -> Account:
        return cls(
            id=strawberry.ID(r.id),
            type=AccountType(r.type),
            product_name=r.product_name,
            status=AccountStatus(r.status),
            currency=r.currency,
            account_number=r.account_number,
            balance=r.balance,
            available_balance=r.available_balance,
            opened_on=r.opened_on,
            days_past_due=r.days_past_due,
        )

    @strawberry.field(description="The newest transactions, newest first (first: 1-100).")
    async def transactions(self, info: Info, first: int = 10) -> list[Transaction] | None:
        found = await info.context.loaders.transactions.load((str(self.id), first_in_range(first)))
        return [Transaction.of(t) for t in found]


def display_pan(pan: str) -> str:
    """At most BIN + last 4 (PCI DSS 3.4.1): the widest display any role may get."""
    return pan[:6] + "*" * max(len(pan) - 10, 0) + pan[-4:]


@strawberry.type
class Card:
    id: strawberry.ID
    pan: str = strawberry.field(description="Masked for display: at most BIN + last 4.")
    last4: str
    brand: CardBrand
    status: CardStatus
    expiry: str = strawberry.field(description="YYYY-MM.")
    account_id: strawberry.ID

    @classmethod
    def of(cls, r: records.Card) -> Card:
        return cls(
            id=strawberry.ID(r.id),
            pan=display_pan(r.pan),
            last4=r.pan[-4:],
            brand=CardBrand(r.brand),
            status=CardStatus(r.status),
            expiry=r.expiry,
            account_id=strawberry.ID(r.account_id),
        )


@strawberry.type(description="Fraud and collections standing, from the core system.")
class RiskProfile:
    fraud_hold: bool
    fraud_reason: str | None
    collections_status: CollectionsStatus
    days_past_due: int

    @classmethod
    def of(cls, r: records.Risk) -> RiskProfile:
        return cls(
            fraud_hold=r.fraud_hold,
            fraud_reason=r.fraud_reason,
            collections_status=CollectionsStatus(r.collections_status),
            days_past_due=r.days_past_due,
        )


@strawberry.type(description="A voice call, chat, IVR or bot session in the CCaaS platform.")
class Interaction:
    id: strawberry.ID
    channel: Channel
    direction: Direction
    state: ContactState
    started_at: datetime
    ended_at: datetime | None
    queue: str | None
    agent_id: str | None
    intent: str | None = strawberry.field(description="What the bot/IVR or agent recorded.")
    summary: str | None
    disposition: str | None
    idv_result: IdvResult
    verified: bool = strawberry.field(description="ID&V passed on this contact.")
    profile_id: strawberry.Private[str]

    @classmethod
    def of(cls, r: records.Contact) -> Interaction:
        return cls(
            id=strawberry.ID(r.id),
            channel=Channel(r.channel),
            direction=Direction(r.direction),
            state=ContactState(r.state),
            started_at=r.started_at,
            ended_at=r.ended_at,
            queue=r.queue,
            agent_id=r.agent_id,
            intent=r.intent,
            summary=r.summary,
            disposition=r.disposition,
            idv_result=IdvResult(r.idv_result),
            verified=r.verified,
            profile_id=r.profile_id,
        )

    @strawberry.field(description="The customer this contact belongs to (resolved via the CRM).")
    async def customer(self, info: Info) -> Customer | None:
        found = await info.context.loaders.customer_by_ccaas_profile.load(self.profile_id)
        return None if found is None else Customer.of(found)


@strawberry.type
class JourneyEvent:
    at: datetime
    system: JourneySystem
    kind: str
    channel: Channel | None
    summary: str
    ref_id: strawberry.ID | None

    @classmethod
    def of(cls, r: JourneyEventRecord) -> JourneyEvent:
        return cls(
            at=r.at,
            system=JourneySystem(r.system),
            kind=r.kind,
            channel=None if r.channel is None else Channel(r.channel),
            summary=r.summary,
            ref_id=None if r.ref_id is None else strawberry.ID(r.ref_id),
        )


@strawberry.type(description="Something unresolved the agent should know about.")
class OpenItem:
    kind: OpenItemKind
    ref_id: strawberry.ID | None
    summary: str
    since: datetime | None

    @classmethod
    def of(cls, r: OpenItemRecord) -> OpenItem:
        return cls(
            kind=OpenItemKind(r.kind),
            ref_id=None if r.ref_id is None else strawberry.ID(r.ref_id),
            summary=r.summary,
            since=r.since,
        )


@strawberry.type(
    description="The end-to-end view no single system has: contacts, cases and core events "
    f"merged newest first (the newest {JOURNEY_WINDOW} contacts and core events are considered)."
)
class Journey:
    stage: JourneyStage
    open_items: list[OpenItem]
    last_contact: Interaction | None = strawberry.field(
        description="With its bot/IVR intent and ID&V result, so nobody asks twice."
    )
    contacts_last_7_days: int
    repeat_contact: bool = strawberry.field(description="The same intent twice within 7 days.")
    repeat_intent: str | None
    record: strawberry.Private[JourneyRecord]

    @classmethod
    def of(cls, r: JourneyRecord) -> Journey:
        return cls(
            stage=JourneyStage(r.stage),
            open_items=[OpenItem.of(i) for i in r.open_items],
            last_contact=None if r.last_contact is None else Interaction.of(r.last_contact),
            contacts_last_7_days=r.contacts_last_7_days,
            repeat_contact=r.repeat_contact,
            repeat_intent=r.repeat_intent,
            record=r,
        )

    @strawberry.field(description="The timeline, newest first (first: 1-100).")
    def events(self, first: int = 20) -> list[JourneyEvent]:
        return [JourneyEvent.of(e) for e in self.record.events[: first_in_range(first)]]


@strawberry.type(description="One customer, assembled at read time from every system.")
class Customer:
    id: strawberry.ID = strawberry.field(description="The CRM id.")
    full_name: str
    first_name: str
    last_name: str
    date_of_birth: date | None
    ssn: str | None
    phones: list[PhoneNumber]
    emails: list[str]
    address: Address | None
    segment: Segment
    preferred_language: str | None
    record: strawberry.Private[records.Customer]

    @classmethod
    def of(cls, r: records.Customer) -> Customer:
        a = r.address
        return cls(
            id=strawberry.ID(r.id),
            full_name=f"{r.first_name} {r.last_name}",
            first_name=r.first_name,
            last_name=r.last_name,
            date_of_birth=r.date_of_birth,
            ssn=r.ssn,
            phones=[PhoneNumber(number=p.number, type=PhoneType(p.type)) for p in r.phones],
            emails=list(r.emails),
            address=None
            if a is None
            else Address(
                street=a.street,
                city=a.city,
                state=a.state,
                postal_code=a.postal_code,
                country=a.country,
            ),
            segment=Segment(r.segment),
            preferred_language=r.preferred_language,
            record=r,
        )

    @strawberry.field(description="Accounts in the core system of record.")
    async def accounts(self, info: Info) -> list[Account] | None:
        party = self.record.core_party_id
        if party is None:
            return []
        return [Account.of(a) for a in await info.context.loaders.accounts.load(party)]

    @strawberry.field
    async def cards(self, info: Info) -> list[Card] | None:
        party = self.record.core_party_id
        if party is None:
            return []
        return [Card.of(c) for c in await info.context.loaders.cards.load(party)]

    @strawberry.field(description="The newest contacts, newest first (first: 1-50).")
    async def interactions(self, info: Info, first: int = 10) -> list[Interaction] | None:
        profile = self.record.ccaas_profile_id
        first_in_range(first, JOURNEY_WINDOW)
        if profile is None:
            return []
        found = await info.context.loaders.contacts_of.load((profile, first))
        return [Interaction.of(c) for c in found]

    @strawberry.field(description="CRM cases, newest first.")
    async def cases(self, info: Info, status: CaseFilter = CaseFilter.ALL) -> list[Case] | None:
        found = await info.context.loaders.cases.load(str(self.id))
        if status is CaseFilter.OPEN:
            found = [c for c in found if c.is_open]
        elif status is CaseFilter.CLOSED:
            found = [c for c in found if not c.is_open]
        return [Case.of(c) for c in sorted(found, key=lambda c: c.opened_at, reverse=True)]

    @strawberry.field
    async def journey(self, info: Info) -> Journey | None:
        return Journey.of(await load_journey(info.context.loaders, self.record, datetime.now(UTC)))

    @strawberry.field(description="Articles for the customer's most recent intents (first: 1-20).")
    async def suggested_articles(self, info: Info, first: int = 3) -> list[Article] | None:
        first_in_range(first, 20)
        profile = self.record.ccaas_profile_id
        if profile is None:
            return []
        loaders = info.context.loaders
        contacts = await loaders.contacts_of.load((profile, JOURNEY_WINDOW))
        intents = recent_intents(contacts)
        if not intents:
            return []
        ranked = await loaders.articles_by_intent.load_many([(i, first) for i in intents])
        seen: dict[str, records.Article] = {}
        for group in ranked:
            for article in group:
                seen.setdefault(article.id, article)
        return [Article.of(a) for a in list(seen.values())[:first]]

    @strawberry.field(description="Fraud and collections standing.")
    async def risk(self, info: Info) -> RiskProfile | None:
        party = self.record.core_party_id
        if party is None:
            return None
        found = await info.context.loaders.risk.load(party)
        return None if found is None else RiskProfile.of(found)
