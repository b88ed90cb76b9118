"""What each field that reaches another system returns, written once and batch-first.

Each function takes every parent at one level of the answer and returns, at once, an awaitable of
one value or Exception per parent (the Exception fails that parent's field only). Its keys join
the loaders' current batch when it is called, not when it is awaited. Standard execution calls it
with one parent per resolver (siblings still share a call: their keys land in the same batch);
compiled execution calls it with all parents at a level (schema/bindings.py). Neither adds an
await of its own: the only waits are the loaders'.

Arguments arrive checked (schema/limits.py holds the caps); values are records, the schema's
types wrap them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Hashable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sources import SourceError, records

from ._loader import Loader
from .discrepancies import discrepancies_of
from .journey import JOURNEY_WINDOW, Journey, assemble, recent_intents
from .loaders import Loaders

__all__ = [
    "accounts_of",
    "articles_for",
    "cards_of",
    "cases_of",
    "customer_of",
    "date_of_birth",
    "failing",
    "full_name",
    "interactions_of",
    "journey_of",
    "last4",
    "needs_specialist",
    "one",
    "opened_on",
    "risk_of",
    "settled",
    "transactions_of",
]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
A = TypeVar("A")
Settled = list[V | Exception]


async def one(pending: Awaitable[Settled[V]]) -> V:
    """The one parent's value of a batch-first function, or its error raised (standard
    execution): awaiting a coroutine adds no event-loop turn."""
    # no local keeps the error: the traceback `settled` raises it with holds this frame
    return settled(*await pending)


def failing(error: Exception, count: int) -> Awaitable[Settled[Any]]:
    """`error` for each of `count` parents (a bad argument fails every parent's field)."""

    async def settle() -> Settled[Any]:
        return [error] * count

    return settle()


def _keyed(
    loader: Loader[K, V], keys: Sequence[K | None], absent: A
) -> Awaitable[list[V | A | Exception]]:
    """Per parent, `loader` at its key; `absent` where the parent has no key."""
    pending = loader.settle_many([k for k in keys if k is not None])

    async def settle() -> list[V | A | Exception]:
        found = iter(await pending)
        return [absent if k is None else next(found) for k in keys]

    return settle()


def _parties(customers: Sequence[records.Customer]) -> list[str | None]:
    return [c.core_party_id for c in customers]


def accounts_of(
    loaders: Loaders, customers: Sequence[records.Customer]
) -> Awaitable[Settled[list[records.Account]]]:
    """`Customer.accounts`: none for a customer without a core party."""
    return _keyed(loaders.accounts, _parties(customers), [])


def cards_of(
    loaders: Loaders, customers: Sequence[records.Customer]
) -> Awaitable[Settled[list[records.Card]]]:
    """`Customer.cards`: none for a customer without a core party."""
    return _keyed(loaders.cards, _parties(customers), [])


def risk_of(
    loaders: Loaders, customers: Sequence[records.Customer]
) -> Awaitable[Settled[records.Risk | None]]:
    """`Customer.risk`: null for a customer without a core party."""
    return _keyed(loaders.risk, _parties(customers), None)


def interactions_of(
    loaders: Loaders, customers: Sequence[records.Customer], first: int
) -> Awaitable[Settled[list[records.Contact]]]:
    """`Customer.interactions`: the newest `first` contacts of each customer's CCaaS profile."""
    keys = [None if c.ccaas_profile_id is None else (c.ccaas_profile_id, first) for c in customers]
    return _keyed(loaders.contacts_of, keys, [])


def customer_of(
    loaders: Loaders, contacts: Sequence[records.Contact]
) -> Awaitable[Settled[records.Customer | None]]:
    """`Interaction.customer`: the CRM customer behind each contact's CCaaS profile."""
    return _keyed(loaders.customer_by_ccaas_profile, [c.profile_id for c in contacts], None)


def transactions_of(
    loaders: Loaders, accounts: Sequence[records.Account], first: int
) -> Awaitable[Settled[list[records.Transaction]]]:
    """`Account.transactions`: the newest `first` of each account."""
    return loaders.transactions.settle_many([(a.id, first) for a in accounts])


def cases_of(
    loaders: Loaders, customers: Sequence[records.Customer], status: str
) -> Awaitable[Settled[list[records.Case]]]:
    """`Customer.cases`: OPEN, CLOSED or ALL of each customer's CRM cases, newest first."""
    pending = loaders.cases.settle_many([c.id for c in customers])

    async def settle() -> Settled[list[records.Case]]:
        out: Settled[list[records.Case]] = []
        for found in await pending:
            if isinstance(found, Exception):
                out.append(found)
                continue
            if status == "OPEN":
                found = [c for c in found if c.is_open]
            elif status == "CLOSED":
                found = [c for c in found if not c.is_open]
            out.append(sorted(found, key=lambda c: c.opened_at, reverse=True))
        return out

    return settle()


def journey_of(
    loaders: Loaders, customers: Sequence[records.Customer]
) -> Awaitable[Settled[Journey]]:
    """`Customer.journey`: each customer's contacts, cases, core events and risk (the same four
    loaders), assembled from the parts that answered (journey.py: what derives from a missing
    part is null with that part's error); null only when all four failed. When two systems
    fail, the error reported is the first in that order, not whichever failed first: the same
    answer every time. The core's party record adds a
    DATA_MISMATCH open item per discrepant field (discrepancies.py); if it cannot be read,
    the journey goes without them rather than failing."""
    profiles = [(c.ccaas_profile_id, JOURNEY_WINDOW) for c in customers if c.ccaas_profile_id]
    parties = [c.core_party_id for c in customers if c.core_party_id]
    contacts_p = loaders.contacts_of.settle_many(profiles)
    cases_p = loaders.cases.settle_many([c.id for c in customers])
    events_p = loaders.core_events.settle_many([(p, JOURNEY_WINDOW) for p in parties])
    risk_p = loaders.risk.settle_many(parties)
    mismatches_p = discrepancies_of(loaders, customers)

    async def settle() -> Settled[Journey]:
        contacts, cases, events, risks, mismatches = await asyncio.gather(
            contacts_p, cases_p, events_p, risk_p, mismatches_p
        )
        contact_of, events_of, risk_of_ = iter(contacts), iter(events), iter(risks)
        out: Settled[Journey] = []
        for customer, case, found in zip(customers, cases, mismatches, strict=True):
            parts: list[Any] = [
                next(contact_of) if customer.ccaas_profile_id else [],
                case,
                next(events_of) if customer.core_party_id else [],
                next(risk_of_) if customer.core_party_id else None,
            ]
            if all(isinstance(p, Exception) for p in parts):
                out.append(parts[0])
                continue
            contacts_, cases_, events_, risk_ = parts
            drift = [] if isinstance(found, Exception) else [(d.field, d.since) for d in found]
            out.append(assemble(contacts_, cases_, events_, risk_, datetime.now(UTC), drift))
        return out

    return settle()


def settled(value: V | Exception) -> V:
    """A value that may be the error of the system it derives from: raised, so the field is
    null with that error at its own path (a strawberry resolver or a compiled `Child` raises
    it; a compiled fallible `Read` reports the Exception it reads).

    One error may fail many parents' fields: raised as it is, each raise would chain another
    traceback onto the last, and this frame's locals would make a cycle with the traceback
    that holds the frame. A source's error is raised with a fresh traceback (it is never
    shown: formatted by code), and the frame lets go of it."""
    if not isinstance(value, Exception):
        return value
    error = value
    del value
    try:
        raise error.with_traceback(None) if isinstance(error, SourceError) else error
    finally:
        del error


def articles_for(
    loaders: Loaders, customers: Sequence[records.Customer], first: int
) -> Awaitable[Settled[list[records.Article]]]:
    """`Customer.suggestedArticles`: the articles of each customer's recent intents (from their
    contacts), deduplicated, the first `first`. A failed intent fails the field (its first
    error in intent order)."""
    profiles = [c.ccaas_profile_id for c in customers]
    pending = loaders.contacts_of.settle_many([(p, JOURNEY_WINDOW) for p in profiles if p])

    async def settle() -> Settled[list[records.Article]]:
        contacts = iter(await pending)
        intents: list[list[str] | Exception] = []
        for profile in profiles:
            found = next(contacts) if profile else []
            intents.append(found if isinstance(found, Exception) else recent_intents(found))
        wanted = [(i, first) for group in intents if isinstance(group, list) for i in group]
        ranked = iter(await loaders.articles_by_intent.settle_many(wanted))
        out: Settled[list[records.Article]] = []
        for group in intents:
            if isinstance(group, Exception):
                out.append(group)
                continue
            seen: dict[str, records.Article] = {}
            error: Exception | None = None
            for _ in group:
                articles = next(ranked)
                if isinstance(articles, Exception):
                    error = error or articles
                    continue
                for article in articles:
                    seen.setdefault(article.id, article)
            out.append(error if error is not None else list(seen.values())[:first])
        return out

    return settle()


# -- leaves computed from the record ---------------------------------------------------------


def full_name(customer: records.Customer) -> str:
    return f"{customer.first_name} {customer.last_name}"


def date_of_birth(customer: records.Customer) -> str | None:
    """`Customer.dateOfBirth`: ISO 8601."""
    born = customer.date_of_birth
    return None if born is None else born.isoformat()


def opened_on(account: records.Account) -> str:
    """`Account.openedOn`: ISO 8601."""
    return account.opened_on.isoformat()


def last4(card: records.Card) -> str:
    return card.pan[-4:]


def needs_specialist(risk: records.Risk) -> bool:
    """A fraud hold or arrears: route to a specialist."""
    return risk.fraud_hold or risk.days_past_due > 0 or risk.collections_status != "CURRENT"
