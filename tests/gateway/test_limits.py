"""gateway.limits.shape, gateway.limits.cost and the Guardrails extension, in process (no
back-end: every operation here is refused, or touches only introspection)."""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from typing import Any

import pytest
from graphql import GraphQLSchema, get_introspection_query, parse

from gateway.limits.cost import estimate_cost
from gateway.limits.extension import guardrails, written_names
from gateway.limits.shape import (
    PARSED,
    SHAPES,
    VALIDATIONS,
    LimitSettings,
    measure,
    measure_cached,
    parse_cached,
    validate_cached,
)
from gateway.limits.trusted import TrustedDocuments, sha256
from schema import build_schema

LIMITS = LimitSettings()
IDS = [f"C{i:05d}" for i in range(1000)]
IDS_LITERAL = "[" + ", ".join(f'"{i}"' for i in IDS) + "]"
DEEP = "customers(ids: {ids}) {{ accounts {{ transactions(first: {first}) {{ amount }} }} }}"


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema()._schema


def cost(schema: GraphQLSchema, query: str, variables: dict[str, Any] | None = None) -> int:
    return estimate_cost(schema, parse(query), None, variables, LIMITS)


# -- cost: a literal, a variable and a variable default cost the same ------------------------


def test_literal_variable_and_default_cost_the_same(schema: GraphQLSchema) -> None:
    literal = "{ " + DEEP.format(ids=IDS_LITERAL, first=100) + " }"
    variable = "query($ids: [ID!]!, $n: Int) { " + DEEP.format(ids="$ids", first="$n") + " }"
    default = (
        f"query($ids: [ID!]! = {IDS_LITERAL}, $n: Int = 100) {{ "
        + DEEP.format(ids="$ids", first="$n")
        + " }"
    )
    expected = cost(schema, literal)
    assert expected > LIMITS.max_cost  # 1,000 customers x 5 accounts x 100 transactions
    assert cost(schema, variable, {"ids": IDS, "n": 100}) == expected
    assert cost(schema, default) == expected  # the issue's 45,001: defaults were ignored


def test_schema_argument_defaults_size_lists(schema: GraphQLSchema) -> None:
    # Journey.events(first: Int = 20): the schema's default, not a table of names
    query = '{ customer(id: "1") { journey { events { kind } } } }'
    explicit = '{ customer(id: "1") { journey { events(first: 20) { kind } } } }'
    assert cost(schema, query) == cost(schema, explicit)
    assert cost(schema, query) > cost(schema, explicit.replace("20", "2"))


def test_an_unhinted_list_counts_the_default_size(schema: GraphQLSchema) -> None:
    one = '{ customer(id: "1") { accounts { type } } }'
    assert cost(schema, one) == 2 + LIMITS.default_list_size


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ('{ customer(id: "1") { interactions(first: 500) { id } } }', None),
        ('query($n: Int) { customer(id: "1") { interactions(first: $n) { id } } }', {"n": 500}),
        ('query($n: Int = 500) { customer(id: "1") { interactions(first: $n) { id } } }', None),
        ("{ customers(ids: " + IDS_LITERAL[:-1] + ', "x"]) { id } }', None),
        ("query($ids: [ID!]!) { customers(ids: $ids) { id } }", {"ids": [*IDS, "x"]}),
        (
            "query($ids: [ID!]! = " + IDS_LITERAL[:-1] + ', "x"]) { customers(ids: $ids) { id } }',
            None,
        ),
    ],
    ids=[
        "first-literal",
        "first-variable",
        "first-default",
        "ids-literal",
        "ids-variable",
        "ids-default",
    ],
)
def test_list_caps_bind_literals_variables_and_defaults(
    schema: GraphQLSchema, query: str, variables: dict[str, Any] | None
) -> None:
    with pytest.raises(Exception) as refused:
        cost(schema, query, variables)
    assert refused.value.extensions == {"code": "LIST_LIMIT"}  # type: ignore[attr-defined]


def test_variables_that_do_not_coerce_cost_nothing_here(schema: GraphQLSchema) -> None:
    query = 'query($n: Int) { customer(id: "1") { interactions(first: $n) { id } } }'
    assert cost(schema, query, {"n": "many"}) == 0  # execution refuses them before resolvers


# -- shape: introspection has its own depth cap ----------------------------------------------


def test_the_standard_introspection_queries_fit_their_own_cap() -> None:
    for query in (
        get_introspection_query(),
        get_introspection_query(
            specified_by_url=True,
            directive_is_repeatable=True,
            schema_description=True,
            input_value_deprecation=True,
        ),
    ):
        shape = measure(parse(query))
        assert shape.violation(LIMITS) is None
        assert shape.depth <= 1 < shape.introspection_depth <= LIMITS.max_introspection_depth


def test_deep_oftype_nesting_is_refused_with_its_own_code() -> None:
    inner = "name"
    for _ in range(100):
        inner = f"ofType {{ {inner} }}"
    shape = measure(parse(f'{{ __type(name: "Customer") {{ {inner} }} }}'))
    violation = shape.violation(LIMITS)
    assert violation is not None and violation.extensions == {"code": "INTROSPECTION_DEPTH_LIMIT"}


def test_an_alias_does_not_make_data_fields_introspection() -> None:
    inner = "id"
    for _ in range(12):
        inner = f"customer {{ journey {{ lastContact {{ {inner} }} }} }}"
    shape = measure(parse(f'{{ __schema: interaction(id: "x") {{ {inner} }} }}'))
    violation = shape.violation(LIMITS)
    assert violation is not None and violation.extensions == {"code": "DEPTH_LIMIT"}


# -- the Guardrails extension ----------------------------------------------------------------


@dataclass
class Principal:
    roles: frozenset[str] = frozenset({"agent"})


@dataclass
class Context:
    may_introspect: bool
    principal: Principal = field(default_factory=Principal)


def gateway_schema(*, suggestions: bool) -> Any:
    rails = guardrails(LIMITS, None, frozenset(), suggestions=suggestions)
    return build_schema([rails], suggestions=suggestions)


async def run(schema: Any, query: str, context: Any) -> Any:
    return await schema.execute(query, context_value=context)


async def test_the_standard_introspection_query_runs_for_those_who_may_introspect() -> None:
    result = await run(gateway_schema(suggestions=False), get_introspection_query(), Context(True))
    assert result.errors is None
    assert any(t["name"] == "Customer" for t in result.data["__schema"]["types"])


async def test_introspection_may_not_nest_data_fields() -> None:
    query = '{ __schema { types { customer(id: "1") { id } } } }'
    result = await run(gateway_schema(suggestions=False), query, Context(True))
    assert result.data is None and "Cannot query field" in result.errors[0].message


async def test_nested_introspection_fields_are_refused() -> None:
    inner = "name"
    for _ in range(4):
        inner = f"fields {{ type {{ {inner} }} }}"
    query = f'{{ __type(name: "Customer") {{ {inner} }} }}'
    result = await run(gateway_schema(suggestions=False), query, Context(True))
    assert result.data is None and "introspection" in result.errors[0].message.lower()


async def test_a_missing_context_may_not_introspect() -> None:
    result = await run(gateway_schema(suggestions=False), "{ __schema { types { name } } }", None)
    assert result.data is None and "introspection" in result.errors[0].message.lower()


async def test_development_suggests_and_production_does_not() -> None:
    typo = '{ customer(id: "1") { fulName } }'
    dev = await run(gateway_schema(suggestions=True), typo, Context(True))
    assert "Did you mean 'fullName'?" in dev.errors[0].message
    for may_introspect in (True, False):
        prod = await run(gateway_schema(suggestions=False), typo, Context(may_introspect))
        assert "Did you mean" not in prod.errors[0].message
        assert "fullName" not in prod.errors[0].message


async def test_a_name_in_a_comment_is_not_a_name_the_caller_wrote() -> None:
    schema = gateway_schema(suggestions=False)
    result = await run(schema, "# Customer ID!\n{ customer }", Context(False))
    message = result.errors[0].message
    assert "Customer" not in message and "ID!" not in message, message
    assert "Customer" not in written_names("# Customer\n{ customer }")
    assert written_names('{ customer(id: "ten x") { id } }') >= {"customer", "id", "ten", "x"}


async def test_concealment_replaces_the_cached_errors_instead_of_editing_them() -> None:
    schema = gateway_schema(suggestions=False)
    query = '{ customer(id: "1") { fulName } } # distinct text for this test'
    first = await run(schema, query, Context(False))
    assert "Customer" not in first.errors[0].message
    cached = validate_cached(schema._schema, query, parse(query), "closed", hide_suggestions=True)
    assert "'Customer'" in cached[0].message  # the cache still holds graphql-core's message
    (entry,) = [
        v for k, v in VALIDATIONS._entries.items() if isinstance(k, tuple) and k[1] == query
    ]
    assert all(e is not first.errors[0] and "'Customer'" in e.message for e in entry[1])


def test_validation_is_keyed_by_the_rule_set_name(schema: GraphQLSchema) -> None:
    query = "{ __schema { queryType { name } } } # keyed by name"
    document = parse(query)
    assert validate_cached(schema, query, document, "open", hide_suggestions=True) == []
    closed = validate_cached(schema, query, document, "closed", hide_suggestions=True)
    assert closed and "introspection" in closed[0].message
    keys = [k for k in VALIDATIONS._entries if isinstance(k, tuple) and k[1] == query]
    assert sorted(k[2] for k in keys) == ["closed", "open"]


# -- caches keyed by document text are bounded by bytes --------------------------------------


def test_document_caches_stay_under_their_byte_caps(schema: GraphQLSchema) -> None:
    padding = ("#" + "x" * 999 + "\n") * 60  # a document of comments: ~60 KB
    sent = PARSED.max_bytes // len(padding) + 50  # more than the largest cache holds
    for i in range(sent):
        text = f"# {i}\n{padding}{{ __typename }}"
        document = parse_cached(text, {"max_tokens": LIMITS.max_tokens})
        assert measure_cached(text, document).violation(LIMITS) is None
        validate_cached(schema, text, document, "closed", hide_suggestions=True)
    gc.collect()
    for cache in (PARSED, SHAPES, VALIDATIONS):
        assert 0 < cache.bytes <= cache.max_bytes < sent * len(padding)


def test_a_parsed_document_keeps_no_comment_tokens() -> None:
    document = parse_cached("#\n" * 1000 + "{ __typename } # x", {})
    assert document.loc is not None
    token: Any = document.loc.start_token
    kinds = []
    while token is not None:
        kinds.append(token.kind.value)
        token = token.next
    assert "Comment" not in kinds and len(kinds) == 5  # SOF { __typename } EOF


async def test_a_trusted_document_is_costed_with_its_variables() -> None:
    text = 'query($n: Int = 10) { customer(id: "1") { interactions(first: $n) { id } } }'
    trusted = TrustedDocuments.from_entries({sha256(text): text}, build_schema()._schema)
    rails = guardrails(LIMITS, trusted, frozenset({"ivr"}))
    schema = build_schema([rails])
    ivr = Context(False, Principal(frozenset({"ivr"})))
    result = await schema.execute(
        None,
        variable_values={"n": 500},
        context_value=ivr,
        operation_extensions={"persistedQuery": {"sha256Hash": sha256(text)}},
    )
    assert result.data is None and result.errors is not None
    assert result.errors[0].extensions == {"code": "LIST_LIMIT"}
