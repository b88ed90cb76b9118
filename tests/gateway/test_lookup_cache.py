"""The lookups an operation makes (gateway/limits/lookups.py), found once per document and per
what the variables decide (given, null, true, false), never per their values; and the
variables an executor already coerced are not coerced again."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import GraphQLSchema, parse
from graphql.execution.values import VariableValues, get_variable_values

import gateway.limits.lookups as lookups
from gateway.limits.lookups import FOUND, Lookup, find_lookups
from schema import build_schema

SCHEMA: GraphQLSchema = build_schema()._schema
ROUTE = """query Route($phone: String, $id: ID, $more: Boolean!) {
  routingContext(phone: $phone, customerId: $id) { matches }
  again: findCustomers(phone: $phone) @include(if: $more) { id }
}"""


def found(text: str, variables: dict[str, Any]) -> list[Lookup]:
    return find_lookups(SCHEMA, parse(text), "Route", variables)


def test_the_same_document_is_found_once_for_any_phone() -> None:
    text = ROUTE + " # once"
    first = found(text, {"phone": "+15550100", "more": False})
    hits = FOUND.hits
    second = found(text, {"phone": "+15550199", "more": False})
    assert FOUND.hits == hits + 1
    assert first == second == [Lookup("routingContext", "routingContext", ("phone",))]
    assert second is not first  # each admission its own list: the cached one is shared


def test_what_the_variables_decide_is_found_for_each() -> None:
    text = ROUTE + " # facts"
    assert found(text, {"phone": "+15550100", "more": True}) == [
        Lookup("routingContext", "routingContext", ("phone",)),
        Lookup("again", "findCustomers", ("phone",)),
    ]
    # the phone null or absent: routingContext by id is no guessable search
    assert found(text, {"phone": None, "id": "c1", "more": True}) == [
        Lookup("routingContext", "routingContext", ("customerId",)),
        Lookup("again", "findCustomers", ()),
    ]
    assert found(text, {"id": "c1", "more": False}) == [
        Lookup("routingContext", "routingContext", ("customerId",))
    ]
    assert not found(text, {"id": "c1", "more": False})[0].guessable
    assert found(text, {"phone": "+15550100", "more": False})[0].guessable


def test_no_variable_value_is_kept_in_the_cache() -> None:
    text = ROUTE + " # values"
    found(text, {"phone": "+15557654321", "id": "customer-secret", "more": True})
    keys = repr(list(FOUND._entries.keys()))
    assert "+15557654321" not in keys and "customer-secret" not in keys


def test_variables_that_do_not_coerce_find_nothing() -> None:
    assert found(ROUTE, {"phone": "+15550100", "more": "yes"}) == []


def test_coerced_variables_are_not_coerced_again(monkeypatch: pytest.MonkeyPatch) -> None:
    document = parse(ROUTE + " # coerced")
    operation = document.definitions[0]
    definitions = getattr(operation, "variable_definitions", ())
    coerced = get_variable_values(SCHEMA, definitions, {"phone": "+15550100", "more": True})
    assert isinstance(coerced, VariableValues)
    calls: list[object] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return get_variable_values(*args, **kwargs)

    monkeypatch.setattr(lookups, "get_variable_values", counted)
    given = find_lookups(SCHEMA, document, "Route", {"phone": "+15550100"}, coerced)
    assert calls == [] and len(given) == 2
    find_lookups(SCHEMA, document, "Route", {"phone": "+15550100", "more": True})
    assert len(calls) == 1  # without them (Schema.execute's road): coerced here
