"""How every field of the graph is read without a resolver call: the compiled executor's view of
the schema (gateway/execution/compile.py).

Standard execution builds the strawberry objects of types.py and lets graphql-core call a
resolver per field. Compiled execution reads the same records directly: a leaf is an attribute
of the record (or a `Read` of it), an object field a `Child` read from the record, and a field
that needs another system a `Fetch` that asks the request's loaders once for every parent at
that level, exactly the keys and the checks the resolvers use. Values are record-level: an enum
field reads the system's value (the executor maps it to the GraphQL name), a date its `date`.

Only fields listed here can be compiled; anything else falls back to standard execution. The
differential tests (tests/differential/) hold the two views to the same answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from resolvers import (
    JOURNEY_WINDOW,
    BadUserInput,
    Loaders,
    NotFound,
    customers_by_id,
    find_customers,
    recent_intents,
    valid_contact_id,
    valid_customer_id,
)
from resolvers.journey import assemble
from sources import records

from .context import Context
from .limits import (
    ARTICLES_MAX_FIRST,
    INTERACTIONS_MAX_FIRST,
    check_ids,
    check_search,
    first_in_range,
)
from .sensitive import Owner

__all__ = [
    "BINDINGS",
    "OWNERS",
    "ROOT",
    "Child",
    "Fetch",
    "Read",
    "RootFetch",
]

Args = Mapping[str, Any]
"""Read-only: a compiled plan hands the same arguments to every request
(gateway/execution/compile.py)."""
Settled = list[Any]
"""One value per parent, or the Exception that failed that parent's field."""


@dataclass(frozen=True, slots=True)
class Read:
    """A leaf computed from the record (a plain attribute needs no binding)."""

    get: Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Child:
    """An object (or list of objects) read from the parent record, no back-end call. `get` may
    raise a ResolverError (a bad argument): the field's error."""

    get: Callable[[Any, Args], Any]


@dataclass(frozen=True, slots=True)
class Fetch:
    """A field needing the loaders: `start(loaders, parents, args)` asks for every parent's
    keys NOW (they join the current batch, as sibling resolvers' would) and returns what to
    await for one value or Exception per parent."""

    start: Callable[[Loaders, Sequence[Any], Args], Awaitable[Settled]]


@dataclass(frozen=True, slots=True)
class RootFetch:
    """A root field: its value (the root resolver's semantics, including waiting for the
    caller's verification before customer data is returned); raises the field's error. For a
    list whose entries may fail individually, entries are values or Exceptions."""

    run: Callable[[Context, Args], Awaitable[Any]]


Binding = Read | Child | Fetch


def _customer_owner(record: Any, parent: Owner | None) -> Owner:
    return Owner(customer_id=record.id, profile_id=record.ccaas_profile_id)


def _contact_owner(record: Any, parent: Owner | None) -> Owner:
    return parent if parent is not None else Owner(customer_id=None, profile_id=record.profile_id)


OWNERS: dict[str, Callable[[Any, Owner | None], Owner]] = {
    "Customer": _customer_owner,
    "Interaction": _contact_owner,
}
"""Whose data an object is (masking and audit): a customer owns everything read through it; a
contact read on its own belongs to its CCaaS profile. Other types inherit their parent's."""


# -- fetches: the resolvers of types.py/banking.py, one batch per level ----------------------


def _children(
    loader: Callable[[Loaders], Any], key: Callable[[Any], Any | None], absent: Any
) -> Fetch:
    """Per parent, `loader(...)` at `key(parent)`; `absent` where the parent has no key."""

    def start(loaders: Loaders, parents: Sequence[Any], args: Args) -> Awaitable[Settled]:
        keys = [key(p) for p in parents]
        pending = loader(loaders).settle_many([k for k in keys if k is not None])

        async def settle() -> Settled:
            found = iter(await pending)
            return [absent if k is None else next(found) for k in keys]

        return settle()

    return Fetch(start)


def _failing(error: Exception, count: int) -> Awaitable[Settled]:
    async def settle() -> Settled:
        return [error] * count

    return settle()


def _interactions(loaders: Loaders, parents: Sequence[Any], args: Args) -> Awaitable[Settled]:
    try:
        first = first_in_range(args["first"], INTERACTIONS_MAX_FIRST)
    except BadUserInput as exc:
        return _failing(exc, len(parents))
    return _children(lambda ls: ls.contacts_of, _limit(first), []).start(loaders, parents, args)


def _limit(first: int) -> Callable[[Any], Any]:
    def key(customer: records.Customer) -> Any:
        profile = customer.ccaas_profile_id
        return None if profile is None else (profile, first)

    return key


def _cases(loaders: Loaders, parents: Sequence[Any], args: Args) -> Awaitable[Settled]:
    status = getattr(args["status"], "value", args["status"])
    pending = loaders.cases.settle_many([c.id for c in parents])

    async def settle() -> Settled:
        settled = await pending
        out: Settled = []
        for found in settled:
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


def _journey(loaders: Loaders, parents: Sequence[Any], args: Args) -> Awaitable[Settled]:
    """`load_journey` for every parent at once: the same four loaders, the same keys."""
    profiles = [(c.ccaas_profile_id, JOURNEY_WINDOW) for c in parents if c.ccaas_profile_id]
    parties = [c.core_party_id for c in parents if c.core_party_id]
    contacts_p = loaders.contacts_of.settle_many(profiles)
    cases_p = loaders.cases.settle_many([c.id for c in parents])
    events_p = loaders.core_events.settle_many([(p, JOURNEY_WINDOW) for p in parties])
    risk_p = loaders.risk.settle_many(parties)

    async def settle() -> Settled:
        contacts, cases, events, risks = await asyncio.gather(contacts_p, cases_p, events_p, risk_p)
        contact_of = iter(contacts)
        events_of, risk_of = iter(events), iter(risks)
        out: Settled = []
        for customer, case in zip(parents, cases, strict=True):
            parts: list[Any] = [
                next(contact_of) if customer.ccaas_profile_id else [],
                case,
                next(events_of) if customer.core_party_id else [],
                next(risk_of) if customer.core_party_id else None,
            ]
            error = next((p for p in parts if isinstance(p, Exception)), None)
            if error is not None:
                out.append(error)
                continue
            contacts_, cases_, events_, risk_ = parts
            out.append(assemble(contacts_, cases_, events_, risk_, datetime.now(UTC)))
        return out

    return settle()


def _articles(loaders: Loaders, parents: Sequence[Any], args: Args) -> Awaitable[Settled]:
    """`Customer.suggestedArticles`: the contacts' recent intents, then their articles."""
    try:
        first = first_in_range(args["first"], ARTICLES_MAX_FIRST)
    except BadUserInput as exc:
        return _failing(exc, len(parents))
    profiles = [c.ccaas_profile_id for c in parents]
    pending = loaders.contacts_of.settle_many([(p, JOURNEY_WINDOW) for p in profiles if p])

    async def settle() -> Settled:
        contacts = iter(await pending)
        intents: list[list[str] | Exception] = []
        for profile in profiles:
            found = next(contacts) if profile else []
            intents.append(found if isinstance(found, Exception) else recent_intents(found))
        wanted = [(i, first) for group in intents if isinstance(group, list) for i in group]
        ranked = iter(await loaders.articles_by_intent.settle_many(wanted))
        out: Settled = []
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


def _transactions(loaders: Loaders, parents: Sequence[Any], args: Args) -> Awaitable[Settled]:
    try:
        first = first_in_range(args["first"])
    except BadUserInput as exc:
        return _failing(exc, len(parents))
    return loaders.transactions.settle_many([(a.id, first) for a in parents])


def _interaction_customer(
    loaders: Loaders, parents: Sequence[Any], args: Args
) -> Awaitable[Settled]:
    fetch = _children(lambda ls: ls.customer_by_ccaas_profile, lambda c: c.profile_id, None)
    return fetch.start(loaders, parents, args)


def _events(journey: Any, args: Args) -> Any:
    return journey.events[: first_in_range(args["first"])]


def _needs_specialist(r: records.Risk) -> bool:
    return r.fraud_hold or r.days_past_due > 0 or r.collections_status != "CURRENT"


BINDINGS: dict[str, dict[str, Binding]] = {
    "Customer": {
        "fullName": Read(lambda r: f"{r.first_name} {r.last_name}"),
        "dateOfBirth": Read(
            lambda r: None if r.date_of_birth is None else r.date_of_birth.isoformat()
        ),
        "phones": Child(lambda r, a: r.phones),
        "emails": Read(lambda r: list(r.emails)),
        "address": Child(lambda r, a: r.address),
        "accounts": _children(lambda ls: ls.accounts, lambda c: c.core_party_id, []),
        "cards": _children(lambda ls: ls.cards, lambda c: c.core_party_id, []),
        "interactions": Fetch(_interactions),
        "cases": Fetch(_cases),
        "journey": Fetch(_journey),
        "suggestedArticles": Fetch(_articles),
        "risk": _children(lambda ls: ls.risk, lambda c: c.core_party_id, None),
    },
    "PhoneNumber": {},
    "Address": {},
    "Interaction": {"customer": Fetch(_interaction_customer)},
    "JourneyEvent": {},
    "OpenItem": {},
    "Journey": {
        "openItems": Child(lambda r, a: r.open_items),
        "lastContact": Child(lambda r, a: r.last_contact),
        "events": Child(_events),
    },
    "Account": {
        "openedOn": Read(lambda r: r.opened_on.isoformat()),
        "transactions": Fetch(_transactions),
    },
    "Transaction": {},
    "Card": {"last4": Read(lambda r: r.pan[-4:])},
    "RiskProfile": {"needsSpecialist": Read(_needs_specialist)},
    "Case": {},
    "Article": {"intents": Read(lambda r: list(r.intents))},
}
"""Per type, the fields that are not a same-named attribute of the record (camelCase GraphQL
name -> binding); every other field reads the record attribute of its Python name."""


# -- root fields: the semantics of query.py ------------------------------------------------


async def _customer(context: Context, args: Args) -> Any:
    raw = args["id"]
    try:
        found = await context.loaders.customer.load(valid_customer_id(raw))
    except BadUserInput as exc:
        await context.ready()
        raise exc from None
    await context.ready()
    if found is None:
        raise NotFound(f"no customer with id {raw!r}")
    return found


async def _customers(context: Context, args: Args) -> list[Any]:
    found: list[Any] = await customers_by_id(context.loaders, check_ids(args["ids"]))
    await context.ready()
    return found


async def _find_customers(context: Context, args: Args) -> list[Any]:
    found = await find_customers(
        context.loaders,
        phone=args.get("phone"),
        email=args.get("email"),
        account_number=args.get("accountNumber"),
    )
    await context.ready()
    return found


async def _interaction(context: Context, args: Args) -> Any:
    raw = args["id"]
    found = await context.loaders.contact.load(valid_contact_id(raw))
    if found is None:
        raise NotFound(f"no interaction with id {raw!r}")
    await context.ready()
    return found


async def _search_articles(context: Context, args: Args) -> list[Any]:
    text, first = check_search(args["query"], args["first"])
    return await context.loaders.sources.knowledge.search(text, first)


ROOT: dict[str, RootFetch] = {
    "customer": RootFetch(_customer),
    "customers": RootFetch(_customers),
    "findCustomers": RootFetch(_find_customers),
    "interaction": RootFetch(_interaction),
    "searchArticles": RootFetch(_search_articles),
}
