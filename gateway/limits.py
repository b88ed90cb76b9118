"""What one operation may ask, checked cheapest first, before any back-end call.

1. Tokens, while parsing (graphql-core aborts the parse at the limit).
2. The document's shape, in one walk of the parsed document (cached per document): depth,
   aliases, root fields, directives, and the same field repeated in one selection set. These
   run *before* validation, whose field-merging rule is the expensive part (a 200-alias
   document costs ~33 ms to validate), so an abusive document costs almost nothing.
3. Validation (cached per document and rule set; the rule sets are built once, so the cache
   keeps hitting), with introspection refused for callers who may not introspect.
4. Cost, once the variables are known: every field costs 1, times the size of each list above
   it (`customers(ids:)` counts its ids, `first:` its value), and every `first:`/`ids` is capped.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    Node,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    specified_rules,
    validate,
)
from graphql.validation import ASTValidationRule

__all__ = [
    "LimitSettings",
    "Shape",
    "estimate_cost",
    "limit_error",
    "measure",
    "measure_cached",
    "rule_sets",
    "validate_cached",
]


@dataclass(frozen=True, slots=True)
class LimitSettings:
    max_tokens: int = 2000
    max_depth: int = 10
    max_aliases: int = 30
    max_root_fields: int = 10
    max_directives: int = 20
    max_repeats: int = 3
    """The same field (response key) at most this many times in one selection set."""
    max_cost: int = 100_000
    max_first: int = 100
    max_ids: int = 1000

    def __post_init__(self) -> None:
        if min(self.max_tokens, self.max_depth, self.max_root_fields, self.max_cost) < 1:
            raise ValueError("limits must be positive")


def limit_error(message: str, code: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


@dataclass(frozen=True, slots=True)
class Shape:
    depth: int
    aliases: int
    root_fields: int
    directives: int
    repeats: int
    """The most times one response key appears in one selection set."""

    def violation(self, limits: LimitSettings) -> GraphQLError | None:
        checks = (
            (self.depth, limits.max_depth, "DEPTH_LIMIT", "nested {0} levels deep; at most {1}"),
            (self.aliases, limits.max_aliases, "ALIAS_LIMIT", "{0} aliases; at most {1}"),
            (
                self.root_fields,
                limits.max_root_fields,
                "ROOT_FIELD_LIMIT",
                "{0} root fields; at most {1}",
            ),
            (
                self.directives,
                limits.max_directives,
                "DIRECTIVE_LIMIT",
                "{0} directives; at most {1}",
            ),
            (
                self.repeats,
                limits.max_repeats,
                "FIELD_REPEAT_LIMIT",
                "a field repeated {0} times; at most {1}",
            ),
        )
        for value, limit, code, text in checks:
            if value > limit:
                return limit_error("query too complex: " + text.format(value, limit), code)
        return None


def measure(document: DocumentNode) -> Shape:
    """The document's shape in one walk; fragments are followed, cycles are cut (validation
    rejects them later)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walk = _Walk(fragments)
    roots = 0
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            walk.directives += len(definition.directives or ())
            roots = max(roots, walk.count_roots(definition.selection_set, set()))
            walk.depth_of(definition.selection_set, 0, frozenset())
        elif isinstance(definition, FragmentDefinitionNode):
            walk.directives += len(definition.directives or ())
            walk.count(definition.selection_set)
    return Shape(walk.max_depth, walk.aliases, roots, walk.directives, walk.repeats)


class _Walk:
    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.max_depth = 0
        self.aliases = 0
        self.directives = 0
        self.repeats = 0

    def count_roots(self, selections: SelectionSetNode, seen: set[str]) -> int:
        total = 0
        for node in selections.selections:
            if isinstance(node, FieldNode):
                total += 1
            elif isinstance(node, InlineFragmentNode):
                total += self.count_roots(node.selection_set, seen)
            elif isinstance(node, FragmentSpreadNode):
                fragment = self.fragments.get(node.name.value)
                if fragment is not None and node.name.value not in seen:
                    seen.add(node.name.value)
                    total += self.count_roots(fragment.selection_set, seen)
        return total

    def count(self, selections: SelectionSetNode) -> None:
        """Aliases, directives and repeats, once per written node (fragments once)."""
        keys: dict[str, int] = {}
        for node in selections.selections:
            self.directives += len(node.directives or ())
            if isinstance(node, FieldNode):
                if node.alias is not None:
                    self.aliases += 1
                key = (node.alias or node.name).value
                keys[key] = keys.get(key, 0) + 1
                if node.selection_set is not None:
                    self.count(node.selection_set)
            elif isinstance(node, InlineFragmentNode):
                self.count(node.selection_set)
        if keys:
            self.repeats = max(self.repeats, *keys.values())

    def depth_of(self, selections: SelectionSetNode, depth: int, path: frozenset[str]) -> None:
        if depth == 0:
            self.count(selections)
        for node in selections.selections:
            if isinstance(node, FieldNode):
                self.max_depth = max(self.max_depth, depth + 1)
                if node.selection_set is not None:
                    self.depth_of(node.selection_set, depth + 1, path)
            elif isinstance(node, InlineFragmentNode):
                self.depth_of(node.selection_set, depth, path)
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in path:
                    self.depth_of(fragment.selection_set, depth, path | {name})


# Lists and how many entries each may bring (the `first:` or `ids` argument where there is one).
_LIST_SIZES: dict[str, int] = {
    "customers": 0,  # its ids
    "findCustomers": 5,
    "accounts": 4,
    "cards": 4,
    "phones": 3,
    "emails": 3,
    "cases": 3,
    "openItems": 5,
    "interactions": 10,
    "transactions": 10,
    "events": 20,
    "suggestedArticles": 3,
    "searchArticles": 5,
}


def estimate_cost(
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    limits: LimitSettings,
) -> int:
    """Fields times the sizes of the lists above them; raises a GraphQLError on a `first:` or
    `ids` beyond its cap (before any back-end call)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if not operations:
        return 0
    return _cost(operations[0].selection_set, 1, fragments, variables or {}, limits, frozenset())


def _cost(
    selections: SelectionSetNode,
    multiplier: int,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    limits: LimitSettings,
    path: frozenset[str],
) -> int:
    total = 0
    for node in selections.selections:
        if isinstance(node, FieldNode):
            size = _list_size(node, variables, limits)
            total += multiplier
            if node.selection_set is not None:
                total += _cost(
                    node.selection_set, multiplier * size, fragments, variables, limits, path
                )
        elif isinstance(node, InlineFragmentNode):
            total += _cost(node.selection_set, multiplier, fragments, variables, limits, path)
        elif isinstance(node, FragmentSpreadNode):
            fragment = fragments.get(node.name.value)
            if fragment is not None and node.name.value not in path:
                total += _cost(
                    fragment.selection_set,
                    multiplier,
                    fragments,
                    variables,
                    limits,
                    path | {node.name.value},
                )
    return total


def _list_size(node: FieldNode, variables: Mapping[str, Any], limits: LimitSettings) -> int:
    name = node.name.value
    size = _LIST_SIZES.get(name, 1)
    for argument in node.arguments or ():
        value = _argument_value(argument.value, variables)
        if argument.name.value == "first" and isinstance(value, int):
            if value > limits.max_first:
                raise limit_error(f"first may be at most {limits.max_first}", "LIST_LIMIT")
            size = max(value, 1)
        elif argument.name.value == "ids" and isinstance(value, list):
            if len(value) > limits.max_ids:
                raise limit_error(f"at most {limits.max_ids} ids per call", "LIST_LIMIT")
            size = max(len(value), 1)
    return size


def _argument_value(value: Node, variables: Mapping[str, Any]) -> Any:
    if isinstance(value, VariableNode):
        return variables.get(value.name.value)
    if isinstance(value, IntValueNode):
        return int(value.value)
    if isinstance(value, ListValueNode):
        return list(value.values)
    return None


Rules = tuple[type[ASTValidationRule], ...]


@functools.cache
def rule_sets() -> tuple[Rules, Rules]:
    """(the rules for callers who may introspect, the rules for everyone else), built once, so
    the validation cache keeps hitting."""
    base = tuple(specified_rules)
    return base, (*base, NoSchemaIntrospectionCustomRule)


class DocumentCache:
    """Results per query *text*. Keying by text, not by the parsed document, matters: a
    DocumentNode hashes recursively (~130 us for a screen-pop query), a str hashes once."""

    def __init__(self, maxsize: int = 1024) -> None:
        self._entries: LRUCache[Hashable, Any] = LRUCache(maxsize=maxsize)
        # module-wide, so shared by every gateway in the process: an LRU reorders itself on
        # reads, and two apps on two threads (tests, embedding) must not corrupt it
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        with self._lock:
            value = self._entries.get(key, _MISSING)
            if value is not _MISSING:
                self.hits += 1
                return value
            self.misses += 1
        value = compute()
        with self._lock:
            self._entries[key] = value
        return value


_MISSING = object()


SHAPES = DocumentCache()
VALIDATIONS = DocumentCache()


def measure_cached(text: str, document: DocumentNode) -> Shape:
    shape: Shape = SHAPES.get(text, lambda: measure(document))
    return shape


def validate_cached(
    schema: GraphQLSchema, text: str, document: DocumentNode, rules: Rules
) -> list[GraphQLError]:
    """graphql-core validation, cached per (schema, query text, rule set)."""
    errors: list[GraphQLError] = VALIDATIONS.get(
        (schema, text, id(rules)), lambda: validate(schema, document, rules)
    )
    return errors
