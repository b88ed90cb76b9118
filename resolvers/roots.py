"""What the five root fields return, written once: standard execution's `Query`
(schema/query.py) and compiled execution's roots (schema/bindings.py ROOT) both call these.

Arguments arrive checked against the schema's caps (schema/limits.py); ids are checked here,
because a malformed id is the field's answer, not the operation's. `ready` is the caller's
verification (schema Context.ready): every root that returns customer data waits for it, so the
gateway knows what the caller may see before any of it is read. Values are records (or an
Exception per entry where an entry may fail alone); the schema's types wrap them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sources import records

from .errors import BadUserInput, NotFound
from .identity import customers_by_id, find_customers, valid_contact_id, valid_customer_id
from .loaders import Loaders

__all__ = ["Ready", "customer", "customers", "find", "interaction", "search_articles"]

Ready = Callable[[], Awaitable[None]]


async def customer(loaders: Loaders, ready: Ready, raw: str) -> records.Customer:
    """`customer(id:)`: NOT_FOUND for an unknown id; a malformed one is BAD_USER_INPUT. Either
    is raised only once the caller's verification has arrived (the same wait as an answer)."""
    try:
        found = await loaders.customer.load(valid_customer_id(raw))
    except BadUserInput:
        await ready()
        raise
    await ready()
    if found is None:
        raise NotFound(f"no customer with id {raw!r}")
    return found


async def customers(
    loaders: Loaders, ready: Ready, ids: list[str]
) -> list[records.Customer | Exception]:
    """`customers(ids:)`: in the order asked, a record or that entry's error."""
    found = await customers_by_id(loaders, ids)
    await ready()
    return found


async def find(
    loaders: Loaders,
    ready: Ready,
    phone: str | None,
    email: str | None,
    account_number: str | None,
) -> list[records.Customer]:
    """`findCustomers`: every customer matching all the keys given."""
    found = await find_customers(loaders, phone=phone, email=email, account_number=account_number)
    await ready()
    return found


async def interaction(loaders: Loaders, ready: Ready, raw: str) -> records.Contact:
    """`interaction(id:)`: one CCaaS contact; NOT_FOUND for an unknown id."""
    found = await loaders.contact.load(valid_contact_id(raw))
    if found is None:
        raise NotFound(f"no interaction with id {raw!r}")
    await ready()
    return found


async def search_articles(loaders: Loaders, text: str, first: int) -> list[records.Article]:
    """`searchArticles`: the knowledge base's answer (no customer data: no wait)."""
    return await loaders.sources.knowledge.search(text, first)
