"""Every argument cap of the graph, and the checks that read them: the one registry both
executions use (the resolvers of types.py/query.py, the compiled bindings and root precheck) and
the gateway's limits read for their defaults (gateway/limits/shape.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from resolvers import JOURNEY_WINDOW, BadUserInput, check_keys
from resolvers.routing import check_routing_key

__all__ = [
    "ARTICLES_MAX_FIRST",
    "INTERACTIONS_MAX_FIRST",
    "MAX_FIRST",
    "MAX_IDS",
    "QUERY_LENGTH",
    "ROOT_CHECKS",
    "check_ids",
    "check_search",
    "first_in_range",
]

MAX_FIRST = 100
"""The largest page any `first:` argument accepts (SECURITY.md: list sizes are capped)."""

MAX_IDS = 1000
"""The most ids one `customers(ids:)` call may name."""

ARTICLES_MAX_FIRST = 20
"""The most articles `searchArticles` and `Customer.suggestedArticles` return."""

INTERACTIONS_MAX_FIRST = JOURNEY_WINDOW
"""The most contacts `Customer.interactions` returns (the CCaaS maximum)."""

QUERY_LENGTH = 200
"""The longest `searchArticles` query text, stripped."""


def first_in_range(first: int, maximum: int = MAX_FIRST) -> int:
    if not 1 <= first <= maximum:
        raise BadUserInput(f"first must be between 1 and {maximum}")
    return first


def check_ids(ids: list[str]) -> list[str]:
    """`customers(ids:)`: at most MAX_IDS of them."""
    if len(ids) > MAX_IDS:
        raise BadUserInput(f"at most {MAX_IDS} ids per call")
    return ids


def check_search(query: str, first: int) -> tuple[str, int]:
    """`searchArticles`: the stripped text (1 to QUERY_LENGTH characters) and the page size."""
    text = query.strip()
    if not 1 <= len(text) <= QUERY_LENGTH:
        raise BadUserInput(f"query must be 1 to {QUERY_LENGTH} characters")
    return text, first_in_range(first, ARTICLES_MAX_FIRST)


Args = Mapping[str, Any]

ROOT_CHECKS: dict[str, Callable[[Args], object]] = {
    "customers": lambda a: check_ids(a["ids"]),
    "findCustomers": lambda a: check_keys(a.get("phone"), a.get("email"), a.get("accountNumber")),
    "searchArticles": lambda a: check_search(a["query"], a["first"]),
    "routingContext": lambda a: check_routing_key(
        a.get("phone"), a.get("customerId"), a.get("interactionId")
    ),
}
"""The argument checks of the non-null root fields, run before any field starts (by both
executions, gateway/execution/run.py `precheck`): such a field failing nulls the whole answer,
so nothing else need be fetched. The root fields run the same checks (schema/query.py)."""
