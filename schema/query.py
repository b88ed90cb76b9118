"""The root Query: screen-pop lookups and direct reads. What each root returns is written once,
in resolvers/roots.py (compiled execution's roots call the same functions); here the records
become the schema's types."""

from __future__ import annotations

import strawberry

from resolvers import roots

from .context import Info
from .limits import ARTICLES_MAX_FIRST, MAX_IDS, check_ids, check_search
from .sensitive import contact_owner
from .types import Article, Customer, Interaction

__all__ = ["Query"]


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
