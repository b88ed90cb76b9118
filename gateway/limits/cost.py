"""What an operation will cost, before any back-end call: every field costs 1, times the sizes
of the lists above it. A list's size comes from the schema: its `first:` argument, the length of
its `ids` argument, or `default_list_size`. Arguments are read *coerced*, with the operation's
variable defaults and the schema's argument defaults applied, exactly as execution will see
them: `query($n: Int = 100) { ... transactions(first: $n) }` costs what `first: 100` costs.
`first:` and `ids` are capped here too. Introspection selections count 1 per field (the schema
is in memory; its own depth caps bound it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values

from gateway.limits.shape import INTROSPECTION_ROOTS, LimitSettings, limit_error

__all__ = ["estimate_cost"]


def estimate_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    limits: LimitSettings,
) -> int:
    """The operation's cost; raises a GraphQLError on a `first:` or `ids` beyond its cap.
    Variables that do not coerce cost 0 here: execution refuses them before any resolver."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1:
        return 0  # execution refuses an ambiguous or missing operation
    operation = operations[0]
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    coerced = get_variable_values(
        schema, operation.variable_definitions or (), dict(variables or {}), hide_suggestions=True
    )
    if isinstance(coerced, list):
        return 0
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walk = _Cost(schema, fragments, coerced, limits)
    return walk.cost(operation.selection_set, root, 1, frozenset(), root_level=True)


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
