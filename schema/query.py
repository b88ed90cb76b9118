"""The root Query: screen-pop lookups and direct reads."""

from __future__ import annotations

import strawberry

from resolvers import (
    BadUserInput,
    NotFound,
    customers_by_id,
    find_customers,
    valid_contact_id,
    valid_customer_id,
)

from .context import Info
from .limits import ARTICLES_MAX_FIRST, MAX_IDS, check_ids, check_search
from .sensitive import Owner
from .types import Article, Customer, Interaction

__all__ = ["Query"]


async def _customer_or_error(info: Info, raw: str) -> Customer | Exception:
    try:
        found = await info.context.loaders.customer.load(valid_customer_id(raw))
    except BadUserInput as exc:
        return exc
    if found is None:
        return NotFound(f"no customer with id {raw!r}")
    return Customer.of(found)


@strawberry.type
class Query:
    @strawberry.field(description="One customer by CRM id; null plus a NOT_FOUND error if unknown.")
    async def customer(self, info: Info, id: strawberry.ID) -> Customer | None:
        result = await _customer_or_error(info, id)
        await info.context.ready()
        if isinstance(result, Exception):
            raise result
        return result

    @strawberry.field(
        description="Customers by CRM id, in the order asked; null (with an error at that index) "
        f"for an unknown or malformed id. At most {MAX_IDS} ids."
    )
    async def customers(self, info: Info, ids: list[strawberry.ID]) -> list[Customer | None]:
        found = await customers_by_id(info.context.loaders, check_ids(list(ids)))
        await info.context.ready()
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
        found = await find_customers(
            info.context.loaders, phone=phone, email=email, account_number=account_number
        )
        await info.context.ready()
        return [Customer.of(c) for c in found]

    @strawberry.field(
        description="One CCaaS contact by id; null plus a NOT_FOUND error if unknown."
    )
    async def interaction(self, info: Info, id: strawberry.ID) -> Interaction | None:
        found = await info.context.loaders.contact.load(valid_contact_id(id))
        if found is None:
            raise NotFound(f"no interaction with id {id!r}")
        await info.context.ready()
        return Interaction.of(found, Owner(customer_id=None, profile_id=found.profile_id))

    @strawberry.field(
        description=f"Full-text search of the knowledge base (first: 1-{ARTICLES_MAX_FIRST})."
    )
    async def search_articles(self, info: Info, query: str, first: int = 5) -> list[Article]:
        text, first = check_search(query, first)
        found = await info.context.loaders.sources.knowledge.search(text, first)
        return [Article.of(a) for a in found]
