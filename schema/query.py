"""The root Query: screen-pop lookups and direct reads. What each root returns is written once,
in resolvers/roots.py (compiled execution's roots call the same functions); here the records
become the schema's types."""

from __future__ import annotations

from typing import Any

import strawberry

from resolvers import roots

from .binding import Args, RootFetch
from .context import Context, Info
from .limits import ARTICLES_MAX_FIRST, MAX_IDS, check_ids, check_search
from .mutation import WriteResult
from .sensitive import contact_owner
from .types import Article, Customer, Interaction

__all__ = ["ROOT", "Query"]


@strawberry.type
class Query:
    @strawberry.field(description="One customer by CRM id; null plus a NOT_FOUND error if unknown.")
    async def customer(self, info: Info, id: strawberry.ID) -> Customer | None:
        context = info.context
        return Customer.of(await roots.customer(context.loaders, context.ready, id))

    @strawberry.field(
        description="Customers by CRM id, in the order asked; null (with an error at that index) "
        f"for an unknown or malformed id. At most {MAX_IDS} ids."
    )
    async def customers(self, info: Info, ids: list[strawberry.ID]) -> list[Customer | None]:
        context = info.context
        found = await roots.customers(context.loaders, context.ready, check_ids(list(ids)))
        # An Exception in the list becomes a located error at its index (graphql-core
        # complete_value), nulling that entry only.
        return [r if isinstance(r, Exception) else Customer.of(r) for r in found]  # type: ignore[misc]

    @strawberry.field(
        description="Screen-pop lookup: 0..n customers matching every key given. A phone may be "
        "E.164 or national ('(555) 123-4567'); several matches are normal (a household)."
    )
    async def find_customers(
        self,
        info: Info,
        phone: str | None = None,
        email: str | None = None,
        account_number: str | None = None,
    ) -> list[Customer]:
        context = info.context
        found = await roots.find(context.loaders, context.ready, phone, email, account_number)
        return [Customer.of(c) for c in found]

    @strawberry.field(
        description="One CCaaS contact by id; null plus a NOT_FOUND error if unknown."
    )
    async def interaction(self, info: Info, id: strawberry.ID) -> Interaction | None:
        found = await roots.interaction(info.context.loaders, info.context.ready, id)
        return Interaction.of(found, contact_owner(found))

    @strawberry.field(
        description=f"Full-text search of the knowledge base (first: 1-{ARTICLES_MAX_FIRST})."
    )
    async def search_articles(self, info: Info, query: str, first: int = 5) -> list[Article]:
        text, first = check_search(query, first)
        found = await roots.search_articles(info.context.loaders, text, first)
        return [Article.of(a) for a in found]

    @strawberry.field(
        description="Where a write stands: the caller's own (any, for a supervisor); null for "
        "an id that is not."
    )
    async def write(self, info: Info, id: strawberry.ID) -> WriteResult | None:
        found = await info.context.writes.find(id)
        return None if found is None else WriteResult.of(found)


# -- compiled execution's roots (schema/binding.py): resolvers/roots.py, as Query calls them --


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


async def _write(context: Context, args: Args) -> Any:
    return await context.writes.find(args["id"])


ROOT: dict[str, RootFetch] = {
    "customer": RootFetch(_customer),
    "customers": RootFetch(_customers),
    "findCustomers": RootFetch(_find_customers),
    "interaction": RootFetch(_interaction),
    "searchArticles": RootFetch(_search_articles),
    "write": RootFetch(_write),
}
