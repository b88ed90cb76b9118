"""The plan compiler and its cache, without a network: what compiles, what falls back and why,
and how plans are keyed and bounded."""

from __future__ import annotations

import dataclasses
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from graphql import (
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    Undefined,
    get_named_type,
    parse,
)
from graphql.execution.collect_fields import FragmentDetails
from graphql.execution.values import VariableValues, get_variable_values

from gateway.execution.compile import EVENT, Plan, Unsupported, compile_plan
from gateway.execution.run import execute_plan
from gateway.execution.select import PlanCache
from gateway.masking.fields import sensitive_fields
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from gateway.observability.metrics import Metrics
from schema import build_schema
from schema.bindings import BINDINGS, ROOT, RootFetch

SCHEMA: GraphQLSchema = build_schema()._schema
POLICY = Policy.load()
MASKER = Masker(b"test")
ROLES = ("agent", "ivr", "developer", "supervisor", "fraud_analyst", "collections")
ARGS = {
    "id": '"003SB0000000000001"',
    "ids": '["003SB0000000000001"]',
    "query": '"card"',
    "customerId": '"003SB0000000000001"',
}


def _call(name: str, field: GraphQLField) -> str:
    """The field with its required arguments filled in."""
    required = [
        f"{a}: {ARGS.get(a, '1')}"
        for a, arg in field.args.items()
        if isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined
    ]
    return f"{name}({', '.join(required)})" if required else name


def _selection(gql_type: GraphQLObjectType, seen: frozenset[str]) -> str:
    """Every field of the type (arguments filled in), recursing once into each type."""
    parts = ["__typename"]
    for name, field in gql_type.fields.items():
        call = _call(name, field)
        named = get_named_type(field.type)
        if isinstance(named, GraphQLObjectType):
            if named.name in seen:
                continue
            parts.append(f"{call} {{ {_selection(named, seen | {named.name})} }}")
        else:
            parts.append(call)
    return " ".join(parts)


def _operation(text: str) -> tuple[OperationDefinitionNode, dict[str, Any]]:
    document = parse(text)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {
        d.name.value: FragmentDetails(d, None)  # type: ignore[attr-defined, arg-type]
        for d in document.definitions
        if d.kind == "fragment_definition"
    }
    return operation, fragments


def _variables(operation: OperationDefinitionNode, raw: dict[str, Any]) -> VariableValues:
    values = get_variable_values(SCHEMA, operation.variable_definitions or (), raw)
    assert isinstance(values, VariableValues), values
    return values


def _compile(text: str, roles: frozenset[str], raw: dict[str, Any] | None = None) -> Plan:
    operation, fragments = _operation(text)
    return compile_plan(
        SCHEMA, fragments, operation, _variables(operation, raw or {}), roles, POLICY, MASKER
    )


def test_every_type_and_root_field_has_a_binding() -> None:
    object_types = {
        t.name
        for t in SCHEMA.type_map.values()
        if isinstance(t, GraphQLObjectType) and not t.name.startswith("__")
    }
    # a subscription's root fields need none (each event's payload is the value), their
    # payload types do; mutations always run on standard execution (compile.py plans queries
    # and subscriptions only)
    assert object_types - {"Query", "Mutation", "Subscription"} == set(BINDINGS)
    assert SCHEMA.query_type is not None
    assert set(SCHEMA.query_type.fields) == set(ROOT)


@pytest.mark.parametrize("role", ROLES)
def test_a_query_of_every_field_compiles_for_every_role(role: str) -> None:
    assert SCHEMA.query_type is not None
    text = "{ " + _selection(SCHEMA.query_type, frozenset()) + " }"
    plan = _compile(text, frozenset({role}))
    assert [f.name for f in plan.root] == list(ROOT)


@pytest.mark.parametrize("role", ROLES)
def test_a_subscription_of_every_field_compiles_for_every_role(role: str) -> None:
    subscription = SCHEMA.subscription_type
    assert subscription is not None
    for name, field in subscription.fields.items():
        payload = get_named_type(field.type)
        assert isinstance(payload, GraphQLObjectType)
        text = f"subscription {{ {_call(name, field)} {{ {_selection(payload, frozenset())} }} }}"
        plan = _compile(text, frozenset({role}))
        assert plan.type_name == "Subscription"
        assert [(f.name, f.kind, f.root) for f in plan.root] == [(name, EVENT, None)]
        assert plan.root[0].child is not None
        assert plan.root[0].child.type_name == payload.name


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{ __schema { queryType { name } } }", "introspection"),
        ('{ __type(name: "Customer") { name } }', "introspection"),
        ("{ customer(id: 1) { __type: id accounts { id } } }", None),
    ],
)
def test_what_falls_back_and_why(text: str, reason: str | None) -> None:
    if reason is None:
        _compile(text, frozenset({"agent"}))
        return
    with pytest.raises(Unsupported) as caught:
        _compile(text, frozenset({"agent"}))
    assert caught.value.reason == reason


def test_treatments_are_the_policys_for_the_role_set() -> None:
    text = "{ customer(id: 1) { accounts { transactions(first: 2) { amount } } } }"
    agent = _compile(text, frozenset({"agent"}))
    analyst = _compile(text, frozenset({"fraud_analyst"}))
    for plan, roles in ((agent, {"agent"}), (analyst, {"fraud_analyst"})):
        customer = plan.root[0].child
        assert customer is not None
        accounts = customer.branches[0]
        assert accounts.child is not None
        gate = accounts.child.branches[0].gate
        assert gate is not None
        coordinate, klass, treatments = gate
        assert coordinate == "Account.transactions"
        expected = tuple(POLICY.treatment(frozenset(roles), klass, v) for v in (False, True))
        assert treatments == expected


def _cache(size: int = 1024) -> tuple[PlanCache, Metrics]:
    metrics = Metrics()
    return PlanCache(POLICY, MASKER, metrics, size=size), metrics


def _plan_for(cache: PlanCache, text: str, roles: set[str], raw: dict[str, Any]) -> Any:
    operation, fragments = _operation(text)
    variables = _variables(operation, raw)
    return cache.plan_for(SCHEMA, text, operation, fragments, variables, frozenset(roles))


INCLUDE = """query Q($id: ID!, $withCases: Boolean!, $n: Int!) {
  customer(id: $id) { id cases @include(if: $withCases) { id } interactions(first: $n) { id } }
}"""


def test_plans_are_cached_per_document_roles_and_directive_values() -> None:
    cache, metrics = _cache()
    one = _plan_for(cache, INCLUDE, {"agent"}, {"id": "a", "withCases": True, "n": 1})
    # other values of variables no directive reads: the same plan
    same = _plan_for(cache, INCLUDE, {"agent"}, {"id": "b", "withCases": True, "n": 7})
    assert same is one
    skipped = _plan_for(cache, INCLUDE, {"agent"}, {"id": "a", "withCases": False, "n": 1})
    assert skipped is not one
    customer = skipped.root[0].child
    assert [b.key for b in customer.branches] == ["interactions"]
    other_role = _plan_for(cache, INCLUDE, {"supervisor"}, {"id": "a", "withCases": True, "n": 1})
    assert other_role is not one
    assert metrics.plans._value.get() == 3  # three compilations, one cache hit
    assert len(cache) == 3


def test_the_cache_is_bounded() -> None:
    cache, _ = _cache(size=2)
    for n in range(5):
        _plan_for(cache, f"query Q{n} {{ customer(id: 1) {{ id }} }}", {"agent"}, {})
    assert len(cache) == 2


def test_a_fallback_is_logged_once_per_document(caplog: pytest.LogCaptureFixture) -> None:
    cache, _ = _cache()
    text = "query Look { __schema { queryType { name } } }"
    with caplog.at_level(logging.INFO, logger="switchboard.execution"):
        for _ in range(3):
            assert isinstance(_plan_for(cache, text, {"developer"}, {}), Unsupported)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["standard execution for operation Look: introspection: __schema"]


def test_trusted_documents_are_compiled_at_start_up_for_every_directive_value() -> None:
    cache, metrics = _cache()
    documents = [(INCLUDE, parse(INCLUDE))]
    assert cache.warm(SCHEMA, documents, [frozenset({"ivr"})]) == []
    assert metrics.plans._value.get() == 2  # withCases true and false
    text = "query Look { __schema { queryType { name } } }"
    looked = [(text, parse(text))]
    assert cache.warm(SCHEMA, looked, [frozenset({"ivr"})]) == [("Look", "introspection")]


POPS = """subscription Pops($withCustomers: Boolean!) {
  screenPops { event customers @include(if: $withCustomers) { id } }
}"""


def test_trusted_subscriptions_are_compiled_at_start_up_too() -> None:
    cache, metrics = _cache()
    assert cache.warm(SCHEMA, [(POPS, parse(POPS))], [frozenset({"agent"})]) == []
    assert metrics.plans._value.get() == 2  # withCustomers true and false
    plan = _plan_for(cache, POPS, {"agent"}, {"withCustomers": False})
    assert metrics.plans._value.get() == 2  # an event finds its plan in the cache
    assert isinstance(plan, Plan)
    assert plan.root[0].child is not None
    assert [b.key for b in plan.root[0].child.branches] == []


def test_lists_of_lists_are_not_in_the_schema() -> None:
    """The compiler handles a list of objects or of scalars, not nested lists: this guards the
    assumption (a new field of that shape must come with compiler support)."""
    for gql_type in SCHEMA.type_map.values():
        if not isinstance(gql_type, GraphQLObjectType) or gql_type.name.startswith("__"):
            continue
        for field in gql_type.fields.values():
            inner = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
            if isinstance(inner, GraphQLList):
                item = inner.of_type
                item = item.of_type if isinstance(item, GraphQLNonNull) else item
                assert not isinstance(item, GraphQLList)


STATIC = '{ customers(ids: ["003SB0000000000001", "003SB0000000000002"]) { id } }'


def test_plans_are_frozen_and_their_static_arguments_read_only() -> None:
    """A plan is shared by every request that runs it: nothing may be assigned to it, and the
    arguments coerced at compile time (the same object for every request) cannot be changed."""
    plan = _compile(STATIC, frozenset({"agent"}))
    field = plan.root[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        field.args = {}  # type: ignore[misc]
    assert field.child is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        field.child.branches = ()  # type: ignore[misc]
    assert field.args is not None
    with pytest.raises(TypeError):
        field.args["ids"] = []  # type: ignore[index]


async def test_a_binding_that_mutates_its_arguments_fails_alone_and_changes_no_later_request() -> (
    None
):
    plan = _compile(STATIC, frozenset({"agent"}))
    seen: list[list[str]] = []

    async def greedy(context: Any, args: Any) -> list[Any]:
        seen.append(list(args["ids"]))
        args["ids"] = ["someone else"]  # what a careless binding might do
        return []

    root = dataclasses.replace(plan.root[0], root=RootFetch(greedy))
    mutated = dataclasses.replace(plan, root=(root,))
    context = SimpleNamespace(loaders=None, access=None)
    for _ in range(2):
        _data, errors, _fields, _busy = await execute_plan(mutated, context, VariableValues({}, {}))
        assert [e.path for e in errors] == [["customers"]]
        assert isinstance(errors[0].original_error, TypeError)
    assert seen == [["003SB0000000000001", "003SB0000000000002"]] * 2


def _everything(root: str) -> str:
    """An operation of every field under `root`: the Query, or a Subscription's root field."""
    if root == "Query":
        assert SCHEMA.query_type is not None
        return "{ " + _selection(SCHEMA.query_type, frozenset()) + " }"
    assert SCHEMA.subscription_type is not None
    field = SCHEMA.subscription_type.fields[root]
    payload = get_named_type(field.type)
    assert isinstance(payload, GraphQLObjectType)
    return f"subscription {{ {_call(root, field)} {{ {_selection(payload, frozenset())} }} }}"


SUBSCRIPTION_FIELDS = tuple(SCHEMA.subscription_type.fields if SCHEMA.subscription_type else ())


@pytest.mark.parametrize("root", ["Query", *SUBSCRIPTION_FIELDS])
@pytest.mark.parametrize("role", ROLES)
def test_a_plan_masks_every_sensitive_field_of_the_table(role: str, root: str) -> None:
    """Compiled execution masks (leaves) or gates (object fields) exactly the fields of the
    table standard execution wraps (gateway/masking/fields.py) that the root reaches, whatever
    the role, in queries and in each subscription's payload (the Query reaches them all)."""
    plan = _compile(_everything(root), frozenset({role}))
    masked: set[str] = set()
    plain: set[str] = set()

    def visit(fields: tuple[Any, ...], parent: str) -> None:
        for field in fields:
            coordinate = f"{parent}.{field.name}"
            (masked if field.gate is not None else plain).add(coordinate)
            if field.gate is not None:
                assert field.gate[0] == coordinate
            if field.child is not None:
                child = field.child
                masked.update(child.masked)
                visit(child.branches, child.type_name)

    visit(plan.root, plan.type_name)
    table = sensitive_fields(SCHEMA)
    reached = _reached(SCHEMA.query_type if root == "Query" else _payload(root))
    if root == "Query":
        assert {coordinate.split(".")[0] for coordinate in table} <= reached
    assert masked == {c for c in table if c.split(".")[0] in reached}
    assert not plain & set(table)


def _payload(root: str) -> GraphQLObjectType:
    assert SCHEMA.subscription_type is not None
    payload = get_named_type(SCHEMA.subscription_type.fields[root].type)
    assert isinstance(payload, GraphQLObjectType)
    return payload


def _reached(start: Any) -> set[str]:
    """The object types reachable from `start`, itself included."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        gql_type = todo.pop()
        if not isinstance(gql_type, GraphQLObjectType) or gql_type.name in seen:
            continue
        seen.add(gql_type.name)
        todo.extend(get_named_type(f.type) for f in gql_type.fields.values())
    return seen
