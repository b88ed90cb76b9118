"""What an operation will cost, before any back-end call: every field costs 1, times the sizes
of the lists above it. A list's size comes from the schema: its `first:` argument, the length of
its `ids` argument, or `default_list_size`. Arguments are read *coerced*, with the operation's
variable defaults and the schema's argument defaults applied, exactly as execution will see
them: `query($n: Int = 100) { ... transactions(first: $n) }` costs what `first: 100` costs.
`first:` and `ids` are capped here too. Introspection selections count 1 per field (the schema
is in memory; its own depth caps bound it).

`CostCache` keeps the estimate per (document text, operation, the values of the variables the
walk actually read): the walk visits every selection whatever the values, and reads variables
only through the arguments of fields with a `first:` or `ids` argument, so those values decide
the answer. A screen-pop's `$phone` is not among them: every phone costs one walk, once."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from cachetools import LRUCache
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values

from gateway.limits.shape import INTROSPECTION_ROOTS, LimitSettings, limit_error

__all__ = ["CostCache", "estimate_cost"]


def estimate_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    limits: LimitSettings,
) -> int:
    """The operation's cost; raises a GraphQLError on a `first:` or `ids` beyond its cap.
    Variables that do not coerce cost 0 here: execution refuses them before any resolver."""
    prepared = _prepare(schema, document, operation_name, variables)
    if prepared is None:
        return 0
    return _Cost(schema, *prepared[1:], limits).total(prepared[0])


_Prepared = tuple[OperationDefinitionNode, dict[str, FragmentDefinitionNode], VariableValues]


def _prepare(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> _Prepared | None:
    """(the operation, the fragments, the coerced variables); None: it costs 0 here."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1:
        return None  # execution refuses an ambiguous or missing operation
    operation = operations[0]
    if schema.get_root_type(operation.operation) is None:
        return None
    coerced = get_variable_values(
        schema, operation.variable_definitions or (), dict(variables or {}), hide_suggestions=True
    )
    if isinstance(coerced, list):
        return None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return operation, fragments, coerced


_ABSENT = object()
"""A variable the caller left out (and with no default): not the same as an explicit null."""


class CostCache:
    """`estimate_cost`, remembered per (schema, text, operation, the values the walk read, as
    `_frozen` keeps them: numbers, list lengths, no strings),
    bounded (LRU). Only the number is kept: a refusal (a cap exceeded) is raised afresh by the
    walk each time, never a shared error object. Per application (one event loop)."""

    def __init__(self, size: int = 1024) -> None:
        self._reads: LRUCache[Hashable, tuple[str, ...]] = LRUCache(maxsize=size)
        self._costs: LRUCache[Hashable, int] = LRUCache(maxsize=size)

    def __len__(self) -> int:
        return len(self._costs)

    def estimate(
        self,
        schema: GraphQLSchema,
        text: str,
        document: DocumentNode,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
        limits: LimitSettings,
    ) -> int:
        """`estimate_cost(schema, document, ...)`, where `document` is `text` parsed."""
        prepared = _prepare(schema, document, operation_name, variables)
        if prepared is None:
            return 0
        operation, fragments, coerced = prepared
        where = (schema, text, operation_name, limits)
        reads = self._reads.get(where)
        key = None if reads is None else _key(where, reads, coerced.coerced)
        if key is not None:
            cost = self._costs.get(key)
            if cost is not None:
                return cost
        walk = _Cost(schema, fragments, coerced, limits)
        cost = walk.total(operation)  # a refusal raises: nothing is kept
        if reads is None:
            reads = self._reads[where] = tuple(sorted(walk.read))
            key = _key(where, reads, coerced.coerced)
        if key is not None:
            self._costs[key] = cost
        return cost

    def refusal(
        self,
        schema: GraphQLSchema,
        text: str,
        document: DocumentNode,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
        limits: LimitSettings,
    ) -> GraphQLError | None:
        """The guardrails' cost rule: a cap exceeded (`first:`, `ids`) or the estimate above
        `max_cost` (COST_LIMIT); None when the operation may run.

        When the walk reads no variable and its kept cost is within `max_cost`, the answer is
        None whatever the variables are, without coercing them: coerced, the cost is the kept
        one; not coercible, it is 0 (execution refuses them). A screen-pop's `$phone`."""
        where = (schema, text, operation_name, limits)
        if self._reads.get(where) == ():
            kept = self._costs.get((*where, ()))
            if kept is not None and kept <= limits.max_cost:
                return None
        try:
            cost = self.estimate(schema, text, document, operation_name, variables, limits)
        except GraphQLError as error:
            return error
        if cost > limits.max_cost:
            message = f"query too costly: estimated {cost}, at most {limits.max_cost}"
            return limit_error(message, "COST_LIMIT")
        return None


def _key(where: tuple[Any, ...], reads: tuple[str, ...], values: Mapping[str, Any]) -> Any:
    """The cache key, or None when a value read cannot be a key (left uncached)."""
    try:
        key = (*where, tuple(_frozen(values.get(name, _ABSENT)) for name in reads))
        hash(key)
    except TypeError:
        return None
    return key


def _frozen(value: Any) -> Any:
    """A hashable stand-in for a coerced value, holding only what a cost can depend on: a
    number or boolean exactly (`first:`; 1, 1.0 and True told apart), a list by its length
    (`ids`: the walk counts them), a string or an id by its type alone. The walk reads every
    variable of a field that has `first:` or `ids` (a search's text beside `first:`, the ids
    themselves), but its answer depends on no string and on no list's items: keeping them would
    keep callers' ids and search text in the key, and miss the cache for every new id list."""
    if isinstance(value, list | tuple):
        return (list, len(value))
    if isinstance(value, dict):
        return (dict, tuple(sorted((k, _frozen(v)) for k, v in value.items())))
    if isinstance(value, str):
        return (str,)
    return (type(value), value)


def _variables_in(value: ValueNode, into: set[str]) -> None:
    if isinstance(value, VariableNode):
        into.add(value.name.value)
        return
    for child in getattr(value, "values", None) or ():  # a list
        _variables_in(child, into)
    for field in getattr(value, "fields", None) or ():  # an input object
        _variables_in(field.value, into)


class _Cost:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: VariableValues,
        limits: LimitSettings,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.limits = limits
        self.read: set[str] = set()
        """The variables the walk read (through the arguments it coerced)."""

    def total(self, operation: OperationDefinitionNode) -> int:
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            return 0
        return self.cost(operation.selection_set, root, 1, frozenset(), root_level=True)

    def cost(
        self,
        selections: SelectionSetNode,
        parent: GraphQLNamedType | None,
        multiplier: int,
        path: frozenset[str],
        *,
        root_level: bool = False,
    ) -> int:
        """`parent` None: below an introspection root (lists count 1)."""
        total = 0
        for node in selections.selections:
            if isinstance(node, FieldNode):
                total += multiplier
                if node.selection_set is None:
                    continue
                name = node.name.value
                field = _field(parent, name)
                if parent is None or field is None or (root_level and name in INTROSPECTION_ROOTS):
                    total += self.cost(node.selection_set, None, multiplier, path)
                    continue
                child = get_named_type(field.type)
                size = self.list_size(field, node)
                total += self.cost(node.selection_set, child, multiplier * size, path)
            elif isinstance(node, InlineFragmentNode):
                scope = self.scope(
                    parent, node.type_condition.name.value if node.type_condition else None
                )
                total += self.cost(
                    node.selection_set, scope, multiplier, path, root_level=root_level
                )
            elif isinstance(node, FragmentSpreadNode):
                fragment = self.fragments.get(node.name.value)
                if fragment is not None and node.name.value not in path:
                    scope = self.scope(parent, fragment.type_condition.name.value)
                    total += self.cost(
                        fragment.selection_set,
                        scope,
                        multiplier,
                        path | {node.name.value},
                        root_level=root_level,
                    )
        return total

    def scope(
        self, parent: GraphQLNamedType | None, condition: str | None
    ) -> GraphQLNamedType | None:
        if parent is None or condition is None:
            return parent
        return self.schema.get_type(condition)

    def list_size(self, field: GraphQLField, node: FieldNode) -> int:
        """1 for a non-list; else its coerced `first:`, its `ids` count, or the default."""
        listed = is_list_type(get_nullable_type(field.type))
        size = self.limits.default_list_size if listed else 1
        if "first" not in field.args and "ids" not in field.args:
            return size
        for argument in node.arguments or ():
            _variables_in(argument.value, self.read)
        arguments = get_argument_values(field, node, self.variables, hide_suggestions=True)
        first = arguments.get("first")
        if isinstance(first, int):
            if first > self.limits.max_first:
                raise limit_error(f"first may be at most {self.limits.max_first}", "LIST_LIMIT")
            size = max(first, 1)
        ids = arguments.get("ids")
        if isinstance(ids, list):
            if len(ids) > self.limits.max_ids:
                raise limit_error(f"at most {self.limits.max_ids} ids per call", "LIST_LIMIT")
            size = max(len(ids), 1)
        return size


def _field(parent: GraphQLNamedType | None, name: str) -> GraphQLField | None:
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        field: GraphQLField | None = parent.fields.get(name)
        return field
    return None
