"""How every field of the graph is read without a resolver call: the compiled executor's view of
the schema (gateway/execution/compile.py).

Standard execution builds the strawberry objects of types.py and lets graphql-core call a
resolver per field. Compiled execution reads the same records directly: a leaf is an attribute
of the record (or a `Read` of it), an object field a `Child` read from the record, and a field
that needs another system a `Fetch` that calls the field's batch-first function
(resolvers/fields.py) once with every parent at that level, where the resolver calls it with
one. Root fields call resolvers/roots.py as query.py does; the argument caps are
schema/limits.py's. Nothing here restates what a field means. Values are record-level: an enum
field reads the system's value (the executor maps it to the GraphQL name), a date its `date`.

Only fields listed here can be compiled; anything else falls back to standard execution. The
differential tests (tests/differential/) hold the two views to the same answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resolvers import BadUserInput, Loaders, fields, roots

from .context import Context
from .limits import (
    ARTICLES_MAX_FIRST,
    INTERACTIONS_MAX_FIRST,
    MAX_FIRST,
    check_ids,
    check_search,
    first_in_range,
)
from .sensitive import Owner, contact_owner, customer_owner

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


OWNERS: dict[str, Callable[[Any, Owner | None], Owner]] = {
    "Customer": customer_owner,
    "Interaction": contact_owner,
}
"""Whose data an object is (masking and audit): a customer owns everything read through it; a
contact read on its own belongs to its CCaaS profile. Other types inherit their parent's."""


# -- fetches: resolvers/fields.py with every parent at a level ----------------------------------


def _capped(
    field: Callable[[Loaders, Sequence[Any], int], Awaitable[Settled]], maximum: int
) -> Fetch:
    """A field whose `first:` is checked against `maximum` (a bad one fails every parent)."""

    def start(loaders: Loaders, parents: Sequence[Any], args: Args) -> Awaitable[Settled]:
        try:
            first = first_in_range(args["first"], maximum)
        except BadUserInput as exc:
            return fields.failing(exc, len(parents))
        return field(loaders, parents, first)

    return Fetch(start)


def _plain(field: Callable[[Loaders, Sequence[Any]], Awaitable[Settled]]) -> Fetch:
    return Fetch(lambda loaders, parents, args: field(loaders, parents))


def _cases(loaders: Loaders, parents: Sequence[Any], args: Args) -> Awaitable[Settled]:
    status = args["status"]
    return fields.cases_of(loaders, parents, str(getattr(status, "value", status)))


def _events(journey: Any, args: Args) -> Any:
    return journey.events[: first_in_range(args["first"])]


BINDINGS: dict[str, dict[str, Binding]] = {
    "Customer": {
        "fullName": Read(fields.full_name),
        "dateOfBirth": Read(fields.date_of_birth),
        "phones": Child(lambda r, a: r.phones),
        "emails": Read(lambda r: list(r.emails)),
        "address": Child(lambda r, a: r.address),
        "accounts": _plain(fields.accounts_of),
        "cards": _plain(fields.cards_of),
        "interactions": _capped(fields.interactions_of, INTERACTIONS_MAX_FIRST),
        "cases": Fetch(_cases),
        "journey": _plain(fields.journey_of),
        "suggestedArticles": _capped(fields.articles_for, ARTICLES_MAX_FIRST),
        "risk": _plain(fields.risk_of),
    },
    "PhoneNumber": {},
    "Address": {},
    "Interaction": {"customer": _plain(fields.customer_of)},
    "JourneyEvent": {},
    "OpenItem": {},
    "Journey": {
        "openItems": Child(lambda r, a: r.open_items),
        "lastContact": Child(lambda r, a: r.last_contact),
        "events": Child(_events),
    },
    "Account": {
        "openedOn": Read(fields.opened_on),
        "transactions": _capped(fields.transactions_of, MAX_FIRST),
    },
    "Transaction": {},
    "Card": {"last4": Read(fields.last4)},
    "RiskProfile": {"needsSpecialist": Read(fields.needs_specialist)},
    "Case": {},
    "Article": {"intents": Read(lambda r: list(r.intents))},
}
"""Per type, the fields that are not a same-named attribute of the record (camelCase GraphQL
name -> binding); every other field reads the record attribute of its Python name."""


# -- root fields: resolvers/roots.py, as schema/query.py calls them ----------------------------


async def _customer(context: Context, args: Args) -> Any:
    return await roots.customer(context.loaders, context.ready, args["id"])


async def _customers(context: Context, args: Args) -> list[Any]:
    found: list[Any] = await roots.customers(context.loaders, context.ready, check_ids(args["ids"]))
    return found


async def _find_customers(context: Context, args: Args) -> list[Any]:
    phone, email, number = args.get("phone"), args.get("email"), args.get("accountNumber")
    return await roots.find(context.loaders, context.ready, phone, email, number)


async def _interaction(context: Context, args: Args) -> Any:
    return await roots.interaction(context.loaders, context.ready, args["id"])


async def _search_articles(context: Context, args: Args) -> list[Any]:
    text, first = check_search(args["query"], args["first"])
    return await roots.search_articles(context.loaders, text, first)


ROOT: dict[str, RootFetch] = {
    "customer": RootFetch(_customer),
    "customers": RootFetch(_customers),
    "findCustomers": RootFetch(_find_customers),
    "interaction": RootFetch(_interaction),
    "searchArticles": RootFetch(_search_articles),
}
