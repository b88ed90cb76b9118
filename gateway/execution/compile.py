"""Compiling an operation into a plan: once per (document, operation, role set, values of the
variables that @include/@skip read), then cached.

A plan is a tree of `ObjectPlan`s, one per selection set, built from graphql-core's own field
collection (aliases, fragments, inline fragments, merged fields, @include/@skip) over the
schema's bindings (schema/bindings.py). Each `ObjectPlan` holds a generated projector that writes
every leaf of an object into its response dict in one call (plain attributes inline, enums by
table, sensitive leaves through their masking step), and, in document order, the fields that
lead to other objects: read from the record (`CHILD`) or fetched through the loaders (`FETCH`).
Each sensitive field carries its treatment for the caller's roles, unverified and verified, so
masking at run time is a lookup; the audit records stay those of standard execution.

A subscription's plan is its selection set under the root field, run once per event: the
root field's value is the event's payload (what the subscription's source stream yields, as
graphql-core's per-event execution takes it), projected through the payload type's bindings.

Whatever the compiler does not support raises `Unsupported` with the reason, and the operation
runs on standard execution instead (gateway/execution/select.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from graphql import (
    FieldNode,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    get_named_type,
)
from graphql.execution.collect_fields import FieldDetails, collect_fields, collect_subfields
from graphql.execution.values import VariableValues, get_argument_values

from gateway.execution.leaves import Leaf, fallible_leaf, masked_leaf, variable_leaf
from gateway.execution.values import (
    Unsupported,
    compose,
    converter,
    getter,
    has_variable,
    identifier,
    serializer,
    shape_of,
)
from gateway.masking.fields import How, SensitiveField, sensitive_fields
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from schema import SensitiveClass
from schema.bindings import BINDINGS, OWNERS, ROOT, Child, Fetch, Read, RootFetch

__all__ = [
    "CHILD",
    "EVENT",
    "FETCH",
    "ROOT_FIELD",
    "FieldPlan",
    "ObjectPlan",
    "Plan",
    "Unsupported",
    "compile_plan",
    "directive_variables",
]

CHILD, FETCH, ROOT_FIELD, EVENT = 1, 2, 3, 4
"""How a field's value is reached: read from the parent record, fetched through the loaders, a
query's root (its `RootFetch`), or a subscription's root (the event's payload)."""
TEXTUAL = frozenset({"String", "ID", "Decimal"})
"""Scalars a partial treatment can keep (last 4, a hash, a fixed mask); any other masked value
(a boolean, a number, an enum) is withheld as null, as the Masker does in standard execution."""


@dataclass(frozen=True, slots=True)
class FieldPlan:
    """A plan is shared by every request that runs it (and cached): frozen, and its static
    arguments are read-only, so no binding can change what the next request sees."""

    key: str
    name: str
    kind: int
    nodes: tuple[FieldNode, ...]
    nullable: bool
    is_list: bool
    item_nullable: bool
    field_def: GraphQLField
    details: FieldDetails
    args: Mapping[str, Any] | None
    """Coerced at compile time when the arguments hold no variables (a read-only view: the same
    one is handed to every request); else None, coerced per execution."""
    child: ObjectPlan | None = None
    get: Callable[[Any, Mapping[str, Any]], Any] | None = None
    fetch: Fetch | None = None
    root: RootFetch | None = None
    gate: tuple[str, SensitiveClass, tuple[str, str]] | None = None
    """(coordinate, class, treatments) of a sensitive object/list field: denied, never fetched."""
    chain: int = 0
    """The longest run of back-end calls one after another from this field down (its own
    `Fetch.calls`, then its children's): which fields to start first (`_longest_first`)."""


@dataclass(frozen=True, slots=True)
class ObjectPlan:
    type_name: str
    keys: tuple[str, ...]
    project: Callable[..., dict[str, Any]]
    """(record, owner, path, state) -> the object's response dict, leaves written, the other
    keys None until their fields complete."""
    branches: tuple[FieldPlan, ...] = ()
    owner: Callable[[Any, Any], Any] | None = None
    """Whose data an object of this type is, from its record and its parent's owner; None:
    its parent's."""
    mortal: bool = False
    """A non-null field of this selection can fail, nulling the object."""
    masked: tuple[str, ...] = ()
    """The coordinates of the sensitive leaves `project` writes through their masking step
    (the table's, gateway/masking/fields.py): what a check reads to see none is missed."""


@dataclass(frozen=True, slots=True)
class Plan:
    root: tuple[FieldPlan, ...]
    keys: tuple[str, ...]
    typename_keys: tuple[str, ...]
    type_name: str = "Query"
    """The root type: `Query`, or `Subscription` (one root field, run once per event)."""


def directive_variables(definitions: Iterable[Any]) -> tuple[str, ...]:
    """The variables any @include/@skip of an operation (and its fragments) reads: a plan is
    compiled per their values (the rest of the plan does not depend on variables)."""
    names: list[str] = []

    def visit(node: Any) -> None:
        for directive in getattr(node, "directives", None) or ():
            if directive.name.value in ("include", "skip"):
                for argument in directive.arguments:
                    value = argument.value
                    if value.kind == "variable" and value.name.value not in names:
                        names.append(value.name.value)
        selection_set = getattr(node, "selection_set", None)
        for selection in selection_set.selections if selection_set else ():
            visit(selection)

    for definition in definitions:
        visit(definition)
    return tuple(names)


def compile_plan(
    schema: GraphQLSchema,
    fragments: dict[str, Any],
    operation: OperationDefinitionNode,
    variables: VariableValues,
    roles: frozenset[str],
    policy: Policy,
    masker: Masker,
) -> Plan:
    if operation.operation not in (OperationType.QUERY, OperationType.SUBSCRIPTION):
        raise Unsupported("operation_type", operation.operation.value)
    compiler = _Compiler(schema, fragments, operation, variables, roles, policy, masker)
    return compiler.root()


class _Compiler:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, Any],
        operation: OperationDefinitionNode,
        variables: VariableValues,
        roles: frozenset[str],
        policy: Policy,
        masker: Masker,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.operation = operation
        self.variables = variables
        self.roles = roles
        self.policy = policy
        self.masker = masker
        self._names = itertools.count()

    def treatments(self, klass: SensitiveClass) -> tuple[str, str]:
        return (
            self.policy.treatment(self.roles, klass, False),
            self.policy.treatment(self.roles, klass, True),
        )

    def root(self) -> Plan:
        subscription = self.operation.operation is OperationType.SUBSCRIPTION
        root_type = self.schema.subscription_type if subscription else self.schema.query_type
        assert root_type is not None  # validation checked the schema has the operation's type
        collected = collect_fields(
            self.schema, self.fragments, self.variables, root_type, self.operation
        )
        grouped = collected.grouped_field_set
        if collected.new_defer_usages:
            raise Unsupported("defer")
        fields: list[FieldPlan] = []
        typename: list[str] = []
        for key, details in grouped.items():
            name = details[0].node.name.value
            if name == "__typename":
                typename.append(key)
                continue
            if name.startswith("__"):
                raise Unsupported("introspection", name)
            if subscription:
                fields.append(self._event(root_type, key, name, details))
                continue
            root = ROOT.get(name)
            if root is None:
                raise Unsupported("unbound_field", f"Query.{name}")
            fields.append(self._field(root_type, key, name, details, ROOT_FIELD, root=root))
        return Plan(tuple(fields), tuple(grouped), tuple(typename), root_type.name)

    def _event(
        self, subscription: GraphQLObjectType, key: str, name: str, details: list[Any]
    ) -> FieldPlan:
        """A subscription's root field, once per event: its value is the payload. That is
        what standard execution's resolver for it returns (strawberry's, the identity), unless
        something replaced that resolver (a masking wrapper, a field that is not strawberry's
        subscription): then it is not planned."""
        field_def = subscription.fields[name]
        definition = field_def.extensions.get("strawberry-definition")
        coordinate = f"{subscription.name}.{name}"
        if not getattr(definition, "is_subscription", False):
            raise Unsupported("unbound_field", coordinate)
        if coordinate in sensitive_fields(self.schema):
            raise Unsupported("sensitive_root", coordinate)
        return self._field(subscription, key, name, details, EVENT)

    def _field(
        self,
        parent: GraphQLObjectType,
        key: str,
        name: str,
        details: list[Any],
        kind: int,
        **binding: Any,
    ) -> FieldPlan:
        """The field's plan, with its binding (`root`, `fetch`, `get`, `gate`): built whole,
        never assigned to afterwards."""
        for detail in details:
            if detail.defer_usage is not None:
                raise Unsupported("defer")
            if detail.fragment_variable_values is not None:
                raise Unsupported("fragment_arguments")
        field_def = parent.fields[name]
        nullable, is_list, item_nullable, named = shape_of(field_def.type)
        child = None
        if isinstance(named, GraphQLObjectType):
            sub = collect_subfields(
                self.schema, self.fragments, self.variables, self.operation, named, details
            )
            if sub.new_defer_usages:
                raise Unsupported("defer")
            child = self._object(named, sub.grouped_field_set)
        fetch = binding.get("fetch")
        below = max((b.chain for b in child.branches), default=0) if child is not None else 0
        return FieldPlan(
            key=key,
            name=name,
            kind=kind,
            nodes=tuple(d.node for d in details),
            nullable=nullable,
            is_list=is_list,
            item_nullable=item_nullable,
            field_def=field_def,
            details=details[0],
            args=self._static_args(field_def, details[0].node),
            child=child,
            chain=below + (fetch.calls if fetch is not None else 0),
            **binding,
        )

    def _static_args(self, field_def: GraphQLField, node: FieldNode) -> Mapping[str, Any] | None:
        if any(has_variable(argument.value) for argument in node.arguments or ()):
            return None
        return MappingProxyType(get_argument_values(field_def, node))

    def _object(self, gql_type: GraphQLObjectType, grouped: dict[str, Any]) -> ObjectPlan:
        bindings = BINDINGS.get(gql_type.name)
        if bindings is None:
            raise Unsupported("unbound_type", gql_type.name)
        sensitive = sensitive_fields(self.schema)
        parts: list[str] = []
        scope: dict[str, Any] = {}
        branches: list[FieldPlan] = []
        masked_leaves: list[str] = []
        for key, details in grouped.items():
            name = details[0].node.name.value
            if name == "__typename":
                parts.append(f"{key!r}: {gql_type.name!r}")
                continue
            if name.startswith("__"):
                raise Unsupported("introspection", name)
            field_def = gql_type.fields[name]
            definition = field_def.extensions.get("strawberry-definition")
            if definition is None:
                raise Unsupported("unbound_field", f"{gql_type.name}.{name}")
            binding = bindings.get(name)
            coordinate = f"{gql_type.name}.{name}"
            masked = sensitive.get(coordinate)
            if isinstance(get_named_type(field_def.type), GraphQLObjectType):
                bound: dict[str, Any] = {}
                if isinstance(binding, Fetch):
                    if isinstance(field_def.type, GraphQLNonNull):
                        raise Unsupported("non_null_fetch", coordinate)
                    bound["fetch"] = binding
                elif isinstance(binding, Child):
                    bound["get"] = binding.get
                else:
                    raise Unsupported("unbound_field", coordinate)
                if masked is not None:
                    bound["gate"] = (masked.audited, masked.klass, self.treatments(masked.klass))
                kind = FETCH if isinstance(binding, Fetch) else CHILD
                branches.append(self._field(gql_type, key, name, details, kind, **bound))
                parts.append(f"{key!r}: None")
                continue
            if isinstance(binding, (Child, Fetch)) or any(
                argument for d in details for argument in d.node.arguments or ()
            ):
                raise Unsupported("unbound_field", coordinate)
            read = getter(binding, definition.python_name)
            ser = serializer(field_def.type)
            is_list = shape_of(field_def.type)[1]
            name_ = f"f{next(self._names)}"
            if masked is not None:
                scope[name_] = self._leaf(masked, key, details, read, ser, field_def, is_list)
                masked_leaves.append(coordinate)
                parts.append(f"{key!r}: {name_}(r, o, p, s)")
            elif isinstance(binding, Read) and binding.fallible:
                nodes = [d.node for d in details]
                full = compose(converter(None), ser, is_list)
                scope[name_] = fallible_leaf(key, nodes, read, full)
                parts.append(f"{key!r}: {name_}(r, o, p, s)")
            elif is_list and ser is not None:
                scope[name_] = compose(read, ser, True)
                parts.append(f"{key!r}: {name_}(r)")
            else:
                # a scalar (or a list as it is): written inline, the value read as an
                # attribute or by its `Read`, then converted by table or function
                if binding is None:
                    value = f"r.{identifier(definition.python_name)}"
                else:
                    scope[f"g{name_}"] = read
                    value = f"g{name_}(r)"
                if ser is not None:
                    scope[name_] = ser
                    value = f"{name_}[{value}]" if isinstance(ser, dict) else f"{name_}({value})"
                parts.append(f"{key!r}: {value}")
        source = f"def project(r, o, p, s):\n    return {{{', '.join(parts)}}}\n"
        exec(compile(source, f"<plan {gql_type.name}>", "exec"), scope)  # noqa: S102
        return ObjectPlan(
            type_name=gql_type.name,
            keys=tuple(grouped),
            project=scope["project"],
            branches=_longest_first(branches),
            owner=OWNERS.get(gql_type.name),
            mortal=any(_fatal(b) for b in branches),
            masked=tuple(masked_leaves),
        )

    def _leaf(
        self,
        field: SensitiveField,
        key: str,
        details: list[Any],
        get: Callable[[Any], Any],
        ser: Any,
        field_def: GraphQLField,
        is_list: bool,
    ) -> Leaf:
        nodes = [d.node for d in details]
        full = compose(converter(None), ser, is_list)
        if field.how is How.FIXED:
            kept = get_named_type(field_def.type).name in TEXTUAL
            treatments = self.treatments(field.klass)
            return masked_leaf(field, key, nodes, treatments, get, full, self.masker, kept)
        by_class = {k.value: self.treatments(k) for k in SensitiveClass}
        return variable_leaf(field, key, nodes, by_class, get, full, self.masker)


def _longest_first(branches: list[FieldPlan]) -> tuple[FieldPlan, ...]:
    """The object's fields in the order the executor starts them: document order, except that
    among fetched fields next to each other, the longest chain of calls below goes first
    (document order among equals). Their keys join their batches in that order, and batches
    go in the order they were made (resolvers `Loaders.dispatch_since`), so the call that
    unlocks the most calls after it leaves first and its answer, at the same latency, comes
    back first: the screen-pop's contacts (then their articles) and accounts (then their
    transactions) before the cards, cases, events and risk that end there. Only neighbours
    trade places: a field read from the record that fails nulls its object, and the fields
    after it never start, as in standard execution (`run._run`), so what starts before it
    stays the same. The response keeps document order (the projector writes every key)."""
    ordered: list[FieldPlan] = []
    run: list[FieldPlan] = []
    for branch in branches:
        if branch.kind == FETCH:
            run.append(branch)
            continue
        ordered.extend(sorted(run, key=lambda b: -b.chain))
        run = []
        ordered.append(branch)
    ordered.extend(sorted(run, key=lambda b: -b.chain))
    return tuple(ordered)


def _fatal(branch: FieldPlan) -> bool:
    """Can this non-null field fail (a bad argument, a child that can), nulling its parent?"""
    if branch.nullable:
        return False
    child_fails = branch.child is not None and branch.child.mortal and not branch.item_nullable
    return bool(branch.field_def.args) or child_fails
