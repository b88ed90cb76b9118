"""gateway.limits.cost.CostCache: the estimate remembered per (document, operation, the values
of the variables the walk reads) answers exactly what `estimate_cost` answers, walks once for
values it does not read (a screen-pop's phone), and never keeps a refusal."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import GraphQLError, GraphQLSchema, parse

from gateway.limits import cost as cost_module
from gateway.limits.cost import CostCache, estimate_cost
from gateway.limits.shape import LimitSettings
from schema import build_schema

LIMITS = LimitSettings()
FIRST = 'query($n: Int, $phone: String!) { findCustomers(phone: $phone) { id } customer(id: "1") { interactions(first: $n) { id } } }'  # noqa: E501
IDS = "query($ids: [ID!]!, $n: Int = 3) { customers(ids: $ids) { id interactions(first: $n) { id } } }"  # noqa: E501


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema()._schema


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per walk of the document."""
    counted: list[int] = []
    real = cost_module._Cost.total

    def total(self: Any, operation: Any) -> int:
        counted.append(1)
        return real(self, operation)

    monkeypatch.setattr(cost_module._Cost, "total", total)
    return counted


def _both(
    schema: GraphQLSchema, cache: CostCache, text: str, variables: dict[str, Any] | None
) -> int:
    """The cache's answer, checked against the walk's (a number, or the same refusal)."""
    document = parse(text)
    try:
        expected: int | str = estimate_cost(schema, document, None, variables, LIMITS)
    except GraphQLError as error:
        expected = error.message
    try:
        got: int | str = cache.estimate(schema, text, document, None, variables, LIMITS)
    except GraphQLError as error:
        got = error.message
    assert got == expected
    assert isinstance(got, int), got
    return got


@pytest.mark.parametrize(
    "variables",
    [
        {"phone": "1", "n": 5},
        {"phone": "1", "n": 50},
        {"phone": "1"},  # absent: not the same as null for a default
        {"phone": "1", "n": 1},
        {"phone": "1", "n": 5},
    ],
)
def test_the_cache_answers_what_the_walk_answers(
    schema: GraphQLSchema, variables: dict[str, Any]
) -> None:
    cache = CostCache()
    for _ in range(2):  # the walk's answer, then the kept one
        _both(schema, cache, FIRST, variables)


def test_a_value_the_walk_reads_is_part_of_the_key(schema: GraphQLSchema) -> None:
    cache = CostCache()
    small = _both(schema, cache, FIRST, {"phone": "1", "n": 2})
    large = _both(schema, cache, FIRST, {"phone": "1", "n": 90})
    assert large > small
    assert _both(schema, cache, FIRST, {"phone": "1", "n": 2}) == small
    two = _both(schema, cache, IDS, {"ids": ["a", "b"]})
    three = _both(schema, cache, IDS, {"ids": ["a", "b", "c"]})
    assert three > two
    assert _both(schema, cache, IDS, {"ids": ["a", "b"], "n": 3}) == two  # the default, given


def test_a_value_the_walk_does_not_read_costs_one_walk(
    schema: GraphQLSchema, walks: list[int]
) -> None:
    cache = CostCache()
    for phone in ("+44 20 1", "+44 20 2", "+44 20 3"):
        _both(schema, cache, FIRST, {"phone": phone, "n": 5})
    assert len(walks) == 3 + 1  # estimate_cost's own three, the cache's one
    assert len(cache) == 1


def test_ids_and_search_text_are_not_kept_in_the_key(
    schema: GraphQLSchema, walks: list[int]
) -> None:
    """The walk reads the ids (it counts them) and a search's text beside `first:`; the key
    keeps a list's length and a string's type only: no caller's ids or words are kept, and
    another list of as many ids is the same cost, walked once."""
    cache = CostCache()
    two = _both(schema, cache, IDS, {"ids": ["003A", "003B"]})
    assert _both(schema, cache, IDS, {"ids": ["003C", "003D"]}) == two
    assert _both(schema, cache, IDS, {"ids": ["003E", "003F", "003G"]}) > two
    text = "query($q: String!, $n: Int!) { searchArticles(query: $q, first: $n) { id } }"
    five = _both(schema, cache, text, {"q": "card blocked abroad", "n": 5})
    assert _both(schema, cache, text, {"q": "lost my wallet", "n": 5}) == five
    assert len(walks) == 5 + 3  # estimate_cost's own five; the cache's: 2 and 3 ids, the search
    kept = repr(list(cache._costs.keys()))
    for secret in ("003A", "003C", "003E", "card blocked", "wallet"):
        assert secret not in kept


def test_a_refusal_is_raised_afresh_each_time(schema: GraphQLSchema) -> None:
    cache = CostCache()
    document = parse(FIRST)
    refused = []
    for _ in range(2):
        with pytest.raises(GraphQLError) as error:
            cache.estimate(schema, FIRST, document, None, {"phone": "1", "n": 5000}, LIMITS)
        refused.append(error.value)
    assert refused[0] is not refused[1]  # never a shared (and mutable) error
    assert refused[0].extensions == {"code": "LIST_LIMIT"}
    assert len(cache) == 0
    # the document's next caller, under the cap, is walked and answered
    assert _both(schema, cache, FIRST, {"phone": "1", "n": 5}) > 0


def test_a_refused_argument_is_refused_the_same(schema: GraphQLSchema) -> None:
    """`interactions(first:)` is non-null with a default: an explicit null is refused by the
    walk's argument coercion, each time (a missing value takes the default)."""
    cache = CostCache()
    document = parse(FIRST)
    for _ in range(2):
        with pytest.raises(GraphQLError, match="not to be None"):
            cache.estimate(schema, FIRST, document, None, {"phone": "1", "n": None}, LIMITS)
    assert _both(schema, cache, FIRST, {"phone": "1"}) > 0


def test_variables_that_do_not_coerce_cost_nothing(schema: GraphQLSchema) -> None:
    cache = CostCache()
    assert _both(schema, cache, FIRST, {"phone": "1", "n": "many"}) == 0
    assert _both(schema, cache, FIRST, {"phone": "1", "n": 5}) > 0


def test_the_limits_are_part_of_the_key(schema: GraphQLSchema) -> None:
    cache = CostCache()
    document = parse(IDS)
    variables = {"ids": ["a", "b"]}
    loose = cache.estimate(schema, IDS, document, None, variables, LIMITS)
    tight = LimitSettings(max_first=2)
    with pytest.raises(GraphQLError):
        cache.estimate(schema, IDS, document, None, variables, tight)
    assert cache.estimate(schema, IDS, document, None, variables, LIMITS) == loose


# -- the rule: refusal() ------------------------------------------------------------------------

POP = "query($phone: String!) { findCustomers(phone: $phone) { id interactions(first: 5) { id } } }"


@pytest.fixture
def coerced(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per coercion of the variables by the cost rule."""
    counted: list[int] = []
    real = cost_module.get_variable_values  # type: ignore[attr-defined]

    def counting(*args: Any, **kwargs: Any) -> Any:
        counted.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cost_module, "get_variable_values", counting)
    return counted


def test_within_the_limit_the_variables_are_not_coerced_again(
    schema: GraphQLSchema, coerced: list[int]
) -> None:
    """The walk read no variable and its cost is within max_cost: the answer is None for any
    variables (coercible or not), so they are not coerced for it again."""
    cache = CostCache()
    document = parse(POP)
    assert cache.refusal(schema, POP, document, None, {"phone": "1"}, LIMITS) is None
    assert len(coerced) == 1
    for variables in ({"phone": "2"}, {"phone": 5}, {}):
        assert cache.refusal(schema, POP, document, None, variables, LIMITS) is None
    assert len(coerced) == 1


def test_over_the_limit_the_variables_decide(schema: GraphQLSchema) -> None:
    """Too costly when the variables coerce (COST_LIMIT, a fresh error each time); not refused
    here when they do not (execution refuses them), as `estimate_cost` answers 0."""
    cache = CostCache()
    document = parse(POP)
    tight = LimitSettings(max_cost=3)
    refused = [cache.refusal(schema, POP, document, None, {"phone": "1"}, tight) for _ in "ab"]
    assert refused[0] is not None and refused[1] is not None and refused[0] is not refused[1]
    assert refused[0].extensions == {"code": "COST_LIMIT"}
    assert refused[0].message == "query too costly: estimated 36, at most 3"
    assert cache.refusal(schema, POP, document, None, {"phone": 5}, tight) is None
    assert cache.refusal(schema, POP, document, None, {}, tight) is None


def test_a_list_cap_is_the_rules_refusal(schema: GraphQLSchema) -> None:
    cache = CostCache()
    document = parse(FIRST)
    refused = cache.refusal(schema, FIRST, document, None, {"phone": "1", "n": 500}, LIMITS)
    assert refused is not None and refused.extensions == {"code": "LIST_LIMIT"}
    assert cache.refusal(schema, FIRST, document, None, {"phone": "1", "n": 5}, LIMITS) is None
