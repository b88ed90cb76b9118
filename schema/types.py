"""The unified graph's object types. Leaves are plain attributes (no resolver, no extension: the
fast path, ~3 us per field); only fields that reach another system are async resolvers, and they
go through the request's loaders so siblings batch into one call per source resource.

Every object carries its `owner` (whose data it is) for masking and audit; sensitive fields are
nullable, so a denied value nulls only itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from resolvers import JOURNEY_WINDOW, Loaders, discrepancies, fields
from resolvers import Journey as JourneyRecord
from resolvers.fields import one
from resolvers.journey import NEEDS_SPECIALIST
from resolvers.journey import JourneyEvent as JourneyEventRecord
from resolvers.journey import OpenItem as OpenItemRecord
from sources import records

from .banking import Account, Card, RiskProfile
from .binding import Args, Binding, Child, Fetch, Read, Settled, capped, plain
from .context import Info
from .enums import (
    CaseFilter,
    Channel,
    ContactState,
    Direction,
    IdvResult,
    JourneyStage,
    JourneySystem,
    OpenItemKind,
    PhoneType,
    Segment,
)
from .limits import ARTICLES_MAX_FIRST, INTERACTIONS_MAX_FIRST, first_in_range
from .sensitive import Owner, customer_owner, derived, sensitive
from .sensitive import SensitiveClass as S
from .service import Article, Case

if TYPE_CHECKING:
    from .discrepancies import Discrepancy

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
]


@strawberry.type
class PhoneNumber:
    number: str | None = sensitive(S.PII_PHONE, description="E.164.")
    type: PhoneType
    owner: strawberry.Private[Owner]


PHONE_NUMBER_BINDING: dict[str, Binding] = {}
"""Compiled execution: every field is a record attribute."""


@strawberry.type
class Address:
    street: str | None = sensitive(S.PII_ADDRESS)
    city: str | None = sensitive(S.PII_ADDRESS)
    state: str
    postal_code: str | None = sensitive(S.PII_ADDRESS)
    country: str
    owner: strawberry.Private[Owner]


ADDRESS_BINDING: dict[str, Binding] = {}


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
    summary: str | None = sensitive(S.CONVERSATION)
    disposition: str | None
    idv_result: IdvResult
    verified: bool = strawberry.field(description="ID&V passed on this contact.")
    owner: strawberry.Private[Owner]
    record: strawberry.Private[records.Contact]

    @classmethod
    def of(cls, r: records.Contact, owner: Owner) -> Interaction:
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
            owner=owner,
            record=r,
        )

    @strawberry.field(description="The customer this contact belongs to (resolved via the CRM).")
    async def customer(self, info: Info) -> Customer | None:
        found = await one(fields.customer_of(info.context.loaders, [self.record]))
        return None if found is None else Customer.of(found)


ACCOUNT_ACTIVITY = "ACCOUNT_ACTIVITY"
"""A core event's kind for a caller who may not see the class it derives from."""


def _class(value: str | None) -> S | None:
    return None if value is None else S(value)


INTERACTION_BINDING: dict[str, Binding] = {"customer": plain(fields.customer_of)}


@strawberry.type
class JourneyEvent:
    at: datetime
    system: JourneySystem
    kind: str = derived(
        S.FRAUD_DETAIL,
        ACCOUNT_ACTIVITY,
        description="A core event's kind carries the class of its summary (PAYMENT_POSTED: "
        "TRANSACTIONS, CARD_BLOCKED: RISK_SUMMARY, FRAUD_ALERT: FRAUD_DETAIL); a caller who "
        f"does not see that class in full gets {ACCOUNT_ACTIVITY}.",
    )
    channel: Channel | None
    summary: str | None = sensitive(
        S.CONVERSATION,
        description="Its class depends on the event: CONVERSATION for contacts, TRANSACTIONS for "
        "payments and fees, RISK_SUMMARY or FRAUD_DETAIL for fraud events; none for cases.",
    )
    ref_id: strawberry.ID | None = derived(
        S.FRAUD_DETAIL, None, description="Null where the kind is withheld."
    )
    owner: strawberry.Private[Owner]
    record: strawberry.Private[JourneyEventRecord]

    @classmethod
    def of(cls, r: JourneyEventRecord, owner: Owner) -> JourneyEvent:
        return cls(
            at=r.at,
            system=JourneySystem(r.system),
            kind=r.kind,
            channel=None if r.channel is None else Channel(r.channel),
            summary=r.summary,
            ref_id=None if r.ref_id is None else strawberry.ID(r.ref_id),
            owner=owner,
            record=r,
        )

    def sensitive_class(self, field: str) -> S | None:
        return _class(self.record.sensitive_class(field))


JOURNEY_EVENT_BINDING: dict[str, Binding] = {}


def _events(journey: JourneyRecord, args: Args) -> Any:
    return journey.events[: first_in_range(args["first"])]


JOURNEY_BINDING: dict[str, Binding] = {
    "stage": Read(lambda r: r.stage, fallible=True),
    "openItems": Child(lambda r, a: r.open_items),
    "lastContact": Child(lambda r, a: fields.settled(r.last_contact)),
    "contactsLast7Days": Read(lambda r: r.contacts_last_7_days, fallible=True),
    "repeatContact": Read(lambda r: r.repeat_contact, fallible=True),
    "repeatIntent": Read(lambda r: r.repeat_intent, fallible=True),
    "events": Child(_events),
}


@strawberry.type(description="Something unresolved the agent should know about.")
class OpenItem:
    kind: OpenItemKind = derived(
        S.RISK_SUMMARY,
        NEEDS_SPECIALIST,
        description="FRAUD_HOLD and PAST_DUE derive from risk (RISK_SUMMARY): a caller who does "
        "not see it in full gets NEEDS_SPECIALIST.",
    )
    ref_id: strawberry.ID | None = derived(
        S.RISK_SUMMARY, None, description="Null for a risk item withheld as NEEDS_SPECIALIST."
    )
    summary: str | None = sensitive(
        S.RISK_SUMMARY,
        description="RISK_SUMMARY for a fraud hold or arrears; not sensitive for other kinds.",
    )
    since: datetime | None
    owner: strawberry.Private[Owner]
    record: strawberry.Private[OpenItemRecord]

    @classmethod
    def of(cls, r: OpenItemRecord, owner: Owner) -> OpenItem:
        return cls(
            kind=OpenItemKind(r.kind),
            ref_id=None if r.ref_id is None else strawberry.ID(r.ref_id),
            summary=r.summary,
            since=r.since,
            owner=owner,
            record=r,
        )

    def sensitive_class(self, field: str) -> S | None:
        return _class(self.record.sensitive_class(field))


OPEN_ITEM_BINDING: dict[str, Binding] = {}


@strawberry.type(
    description="The end-to-end view no single system has: contacts, cases and core events "
    f"merged newest first (the newest {JOURNEY_WINDOW} contacts and core events are considered)."
)
class Journey:
    open_items: list[OpenItem] = strawberry.field(
        description="The open items of the systems that answered (`missing` names the others: "
        "with core risk missing there is no FRAUD_HOLD or PAST_DUE item to show)."
    )
    missing: list[str] = strawberry.field(
        description="The systems whose part of the journey is absent, named as in "
        "`extensions.sources` (ccaas, crm, core): the timeline and open items hold the others'; "
        "a field derived from a missing part is null with its error."
    )
    record: strawberry.Private[JourneyRecord]
    owner: strawberry.Private[Owner]

    @classmethod
    def of(cls, r: JourneyRecord, owner: Owner) -> Journey:
        return cls(
            open_items=[OpenItem.of(i, owner) for i in r.open_items],
            missing=list(r.missing),
            record=r,
            owner=owner,
        )

    def sensitive_class(self, field: str) -> S | None:
        return _class(self.record.sensitive_class(field))

    @derived(
        S.RISK_SUMMARY,
        NEEDS_SPECIALIST,
        description="FRAUD_REVIEW and COLLECTIONS derive from risk (RISK_SUMMARY): a caller who "
        "does not see it in full gets NEEDS_SPECIALIST. Null, with the error, when a system it "
        "derives from is missing and the others do not decide it.",
    )
    def stage(self) -> JourneyStage | None:
        return JourneyStage(fields.settled(self.record.stage))

    @strawberry.field(
        description="With its bot/IVR intent and ID&V result, so nobody asks twice. Null, with "
        "the error, when CCaaS is missing."
    )
    def last_contact(self) -> Interaction | None:
        found = fields.settled(self.record.last_contact)
        return None if found is None else Interaction.of(found, self.owner)

    @strawberry.field(description="Null, with the error, when CCaaS is missing.")
    def contacts_last_7_days(self) -> int | None:
        return fields.settled(self.record.contacts_last_7_days)

    @strawberry.field(
        description="The same intent twice within 7 days. Null, with the error, when CCaaS is "
        "missing."
    )
    def repeat_contact(self) -> bool | None:
        return fields.settled(self.record.repeat_contact)

    @strawberry.field(description="Null, with the error, when CCaaS is missing.")
    def repeat_intent(self) -> str | None:
        return fields.settled(self.record.repeat_intent)

    @strawberry.field(description="The timeline, newest first (first: 1-100).")
    def events(self, first: int = 20) -> list[JourneyEvent]:
        return [JourneyEvent.of(e, self.owner) for e in self.record.events[: first_in_range(first)]]


@strawberry.type(description="One customer, assembled at read time from every system.")
class Customer:
    id: strawberry.ID = strawberry.field(description="The CRM id.")
    full_name: str
    first_name: str
    last_name: str
    date_of_birth: str | None = sensitive(S.PII_DOB, description="ISO 8601 date.")
    ssn: str | None = sensitive(S.PII_NATIONAL_ID)
    phones: list[PhoneNumber]
    emails: list[str] | None = sensitive(S.PII_EMAIL)
    address: Address | None = sensitive(S.PII_ADDRESS)
    segment: Segment
    preferred_language: str | None
    record: strawberry.Private[records.Customer]
    owner: strawberry.Private[Owner]

    @classmethod
    def of(cls, r: records.Customer) -> Customer:
        owner = customer_owner(r)
        a = r.address
        return cls(
            id=strawberry.ID(r.id),
            full_name=fields.full_name(r),
            first_name=r.first_name,
            last_name=r.last_name,
            date_of_birth=fields.date_of_birth(r),
            ssn=r.ssn,
            phones=[
                PhoneNumber(number=p.number, type=PhoneType(p.type), owner=owner) for p in r.phones
            ],
            emails=list(r.emails),
            address=None
            if a is None
            else Address(
                street=a.street,
                city=a.city,
                state=a.state,
                postal_code=a.postal_code,
                country=a.country,
                owner=owner,
            ),
            segment=Segment(r.segment),
            preferred_language=r.preferred_language,
            record=r,
            owner=owner,
        )

    @strawberry.field(description="Accounts in the core system of record.")
    async def accounts(self, info: Info) -> list[Account] | None:
        found = await one(fields.accounts_of(info.context.loaders, [self.record]))
        return [Account.of(a, self.owner) for a in found]

    @strawberry.field
    async def cards(self, info: Info) -> list[Card] | None:
        found = await one(fields.cards_of(info.context.loaders, [self.record]))
        return [Card.of(c, self.owner) for c in found]

    @strawberry.field(
        description=f"The newest contacts, newest first (first: 1-{INTERACTIONS_MAX_FIRST})."
    )
    async def interactions(self, info: Info, first: int = 10) -> list[Interaction] | None:
        first_in_range(first, INTERACTIONS_MAX_FIRST)
        found = await one(fields.interactions_of(info.context.loaders, [self.record], first))
        return [Interaction.of(c, self.owner) for c in found]

    @strawberry.field(description="CRM cases, newest first.")
    async def cases(self, info: Info, status: CaseFilter = CaseFilter.ALL) -> list[Case] | None:
        found = await one(fields.cases_of(info.context.loaders, [self.record], status.value))
        return [Case.of(c) for c in found]

    @strawberry.field
    async def journey(self, info: Info) -> Journey | None:
        journey = await one(fields.journey_of(info.context.loaders, [self.record]))
        return Journey.of(journey, self.owner)

    @strawberry.field(
        description="Articles for the customer's most recent intents "
        f"(first: 1-{ARTICLES_MAX_FIRST})."
    )
    async def suggested_articles(self, info: Info, first: int = 3) -> list[Article] | None:
        first_in_range(first, ARTICLES_MAX_FIRST)
        found = await one(fields.articles_for(info.context.loaders, [self.record], first))
        return [Article.of(a) for a in found]

    @strawberry.field(
        description="Where the CRM and the core disagree about the customer's name, date of "
        "birth, phones, email or address, compared at read time (nothing stored); each value "
        "masked as the field itself is."
    )
    async def discrepancies(
        self, info: Info
    ) -> list[Annotated[Discrepancy, strawberry.lazy("schema.discrepancies")]] | None:
        from .discrepancies import Discrepancy

        found = await one(discrepancies.discrepancies_of(info.context.loaders, [self.record]))
        return [Discrepancy.of(d, self.owner) for d in found]

    @strawberry.field(description="Fraud and collections standing.")
    async def risk(self, info: Info) -> RiskProfile | None:
        found = await one(fields.risk_of(info.context.loaders, [self.record]))
        return None if found is None else RiskProfile.of(found, self.owner)


def _cases(loaders: Loaders, parents: Sequence[Any], args: Args) -> Awaitable[Settled]:
    status = args["status"]
    return fields.cases_of(loaders, parents, str(getattr(status, "value", status)))


CUSTOMER_BINDING: dict[str, Binding] = {
    "fullName": Read(fields.full_name),
    "dateOfBirth": Read(fields.date_of_birth),
    "phones": Child(lambda r, a: r.phones),
    "emails": Read(lambda r: list(r.emails)),
    "address": Child(lambda r, a: r.address),
    "accounts": plain(fields.accounts_of),
    "cards": plain(fields.cards_of),
    "interactions": capped(fields.interactions_of, INTERACTIONS_MAX_FIRST),
    "cases": Fetch(_cases),
    "journey": plain(fields.journey_of),
    "suggestedArticles": capped(fields.articles_for, ARTICLES_MAX_FIRST, calls=2),
    "risk": plain(fields.risk_of),
    "discrepancies": plain(discrepancies.discrepancies_of),
}
"""Compiled execution's view of Customer (schema/binding.py): the fields that are not a
same-named record attribute."""
