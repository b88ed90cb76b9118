"""What one operation may ask, checked cheapest first, before any back-end call.

1. The document's size in bytes, before anything else (a body may carry large variables; a
   document has no reason to be large), then tokens, while parsing (graphql-core aborts the
   parse at the limit).
2. The document's shape, in one walk of the parsed document (cached per document): depth,
   aliases, root fields, directives, and the same field repeated in one selection set. These
   run *before* validation, whose field-merging rule is the expensive part (a 200-alias
   document costs ~33 ms to validate), so an abusive document costs almost nothing.
   Introspection (`__schema`/`__type` at the root, by field name, never by alias) has a depth
   cap of its own: the standard introspection queries of graphql-js and GraphiQL are 15 deep.
3. Validation (cached per document and rule set), with introspection refused for callers who
   may not introspect; graphql-core's MaxIntrospectionDepthRule bounds `fields { type {
   fields ...` for those who may.
4. Cost, once the variables are known (`gateway.limits.cost`).

Every cache here is keyed by document text and bounded by *bytes*, not entries: a text is up to
`max_document_bytes`, and a parsed document keeps its text and tokens alive.
"""

from __future__ import annotations

import functools
import sys
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
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    SelectionSetNode,
    Token,
    TokenKind,
    parse,
    specified_rules,
    validate,
)
from graphql.validation import ASTValidationRule

from schema.limits import MAX_FIRST, MAX_IDS

__all__ = [
    "INTROSPECTION_ROOTS",
    "PARSED",
    "SHAPES",
    "VALIDATIONS",
    "LimitSettings",
    "Shape",
    "document_too_large",
    "limit_error",
    "measure",
    "measure_cached",
    "parse_cached",
    "rule_sets",
    "validate_cached",
]

INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})


@dataclass(frozen=True, slots=True)
class LimitSettings:
    max_tokens: int = 2000
    max_document_bytes: int = 64 * 1024
    """The query text, UTF-8; checked before the parse (the body limit is the server's)."""
    max_depth: int = 10
    max_introspection_depth: int = 20
    """Depth of a `__schema`/`__type` selection (the standard introspection query is 15)."""
    max_aliases: int = 30
    max_root_fields: int = 10
    max_directives: int = 20
    max_repeats: int = 3
    """The same field (response key) at most this many times in one selection set."""
    max_cost: int = 100_000
    max_first: int = MAX_FIRST
    max_ids: int = MAX_IDS
    default_list_size: int = 5
    """What a list without a `first:` or `ids` argument counts for in the cost."""

    def __post_init__(self) -> None:
        values = (
            self.max_tokens,
            self.max_document_bytes,
            self.max_depth,
            self.max_introspection_depth,
            self.max_root_fields,
            self.max_cost,
            self.default_list_size,
        )
        if min(values) < 1:
            raise ValueError("limits must be positive")


def limit_error(message: str, code: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


def document_too_large(text: str, limits: LimitSettings) -> GraphQLError | None:
    size = len(text)
    if size * 4 > limits.max_document_bytes:  # only then can the UTF-8 form be too large
        size = len(text.encode("utf-8", "surrogatepass"))
    if size <= limits.max_document_bytes:
        return None
    message = f"document too large: {size} bytes; at most {limits.max_document_bytes}"
    return limit_error(message, "DOCUMENT_TOO_LARGE")


@dataclass(frozen=True, slots=True)
class Shape:
    depth: int
    aliases: int
    root_fields: int
    directives: int
    repeats: int
    """The most times one response key appears in one selection set."""
    introspection_depth: int = 0

    def violation(self, limits: LimitSettings) -> GraphQLError | None:
        checks = (
            (self.depth, limits.max_depth, "DEPTH_LIMIT", "nested {0} levels deep; at most {1}"),
            (
                self.introspection_depth,
                limits.max_introspection_depth,
                "INTROSPECTION_DEPTH_LIMIT",
                "introspection nested {0} levels deep; at most {1}",
            ),
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
    return Shape(
        walk.max_depth, walk.aliases, roots, walk.directives, walk.repeats, walk.introspection
    )


class _Walk:
    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.max_depth = 0
        self.introspection = 0
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

    def depth_of(
        self,
        selections: SelectionSetNode,
        depth: int,
        path: frozenset[str],
        introspection: bool = False,
    ) -> None:
        """Depth below an introspection root (by field *name*: an alias cannot make a data
        field look like one) counts towards the introspection cap; validation then allows
        only introspection types under it."""
        if depth == 0:
            self.count(selections)
        for node in selections.selections:
            if isinstance(node, FieldNode):
                inside = introspection or (depth == 0 and node.name.value in INTROSPECTION_ROOTS)
                if inside:
                    self.introspection = max(self.introspection, depth + 1)
                else:
                    self.max_depth = max(self.max_depth, depth + 1)
                if node.selection_set is not None:
                    self.depth_of(node.selection_set, depth + 1, path, inside)
            elif isinstance(node, InlineFragmentNode):
                self.depth_of(node.selection_set, depth, path, introspection)
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in path:
                    self.depth_of(fragment.selection_set, depth, path | {name}, introspection)


Rules = tuple[type[ASTValidationRule], ...]


@functools.cache
def rule_sets() -> dict[str, Rules]:
    """ "open" for callers who may introspect, "closed" for everyone else. The validation
    cache keys on the name, never on the tuple's identity."""
    base = tuple(specified_rules)  # MaxIntrospectionDepthRule included
    return {"open": base, "closed": (*base, NoSchemaIntrospectionCustomRule)}


_TOKEN_BYTES = 600
"""What one token of a parsed document costs, with its AST node (measured: ~530 bytes)."""


class DocumentCache:
    """Results per query *text*, bounded by bytes: each entry weighs at least its text, so a
    stream of large distinct documents evicts instead of growing memory. Keying by text, not
    by the parsed document, matters: a DocumentNode hashes recursively (~130 us for a
    screen-pop query), a str hashes once."""

    def __init__(self, max_bytes: int) -> None:
        self._entries: LRUCache[Hashable, tuple[int, Any]] = LRUCache(
            maxsize=max_bytes, getsizeof=lambda entry: entry[0]
        )
        # module-wide, so shared by every gateway in the process: an LRU reorders itself on
        # reads, and two apps on two threads (tests, embedding) must not corrupt it
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def bytes(self) -> int:
        return int(self._entries.currsize)

    @property
    def max_bytes(self) -> int:
        return int(self._entries.maxsize)

    def get(self, key: Hashable, compute: Callable[[], tuple[int, Any]]) -> Any:
        """`compute` returns (weight in bytes, value); a value heavier than the whole cache
        is returned uncached."""
        with self._lock:
            entry = self._entries.get(key, _MISSING)
            if entry is not _MISSING:
                self.hits += 1
                return entry[1]
            self.misses += 1
        weight, value = compute()
        if weight <= self.max_bytes:
            with self._lock:
                self._entries[key] = (weight, value)
        return value


_MISSING: Any = object()


PARSED = DocumentCache(32 * 1024 * 1024)
SHAPES = DocumentCache(8 * 1024 * 1024)
VALIDATIONS = DocumentCache(16 * 1024 * 1024)


def parse_cached(text: str, options: Mapping[str, Any]) -> DocumentNode:
    """graphql-core's parse, cached per (text, options). Comments are unlinked from the
    parsed token chain: they would otherwise stay alive as one token each (a document of
    `#` lines keeps ~100 bytes per 2 bytes of text) in every cache holding the document."""

    def compute() -> tuple[int, DocumentNode]:
        document = parse(text, **options)
        tokens = _drop_comments(document)
        return sys.getsizeof(text) + tokens * _TOKEN_BYTES, document

    document: DocumentNode = PARSED.get((text, tuple(sorted(options.items()))), compute)
    return document


def _drop_comments(document: DocumentNode) -> int:
    """Unlink comment tokens from the document's token chain; the tokens left."""
    if document.loc is None:
        return 0
    count = 0
    token: Token | None = document.loc.start_token
    while token is not None:
        following = token.next
        while following is not None and following.kind == TokenKind.COMMENT:
            following = following.next
        token.next = following
        if following is not None:
            following.prev = token
        token = following
        count += 1
    return count


def measure_cached(text: str, document: DocumentNode) -> Shape:
    shape: Shape = SHAPES.get(text, lambda: (sys.getsizeof(text) + 200, measure(document)))
    return shape


def validate_cached(
    schema: GraphQLSchema,
    text: str,
    document: DocumentNode,
    rule_set: str,
    *,
    hide_suggestions: bool,
) -> list[GraphQLError]:
    """graphql-core validation, cached per (schema, query text, rule-set name, suggestions).
    Errors come back as fresh copies: the cached ones are shared by every request with this
    text, and strawberry (and the concealment) rewrite messages."""

    def compute() -> tuple[int, list[GraphQLError]]:
        errors = validate(
            schema, document, rule_sets()[rule_set], hide_suggestions=hide_suggestions
        )
        weight = sys.getsizeof(text) + 200
        if errors:  # they keep the document (and its tokens) alive through their nodes
            weight += _tokens(document) * _TOKEN_BYTES
        return weight, errors

    errors: list[GraphQLError] = VALIDATIONS.get(
        (schema, text, rule_set, hide_suggestions), compute
    )
    return [copy_error(e) for e in errors]


def _tokens(document: DocumentNode) -> int:
    count = 0
    token = document.loc.start_token if document.loc is not None else None
    while token is not None:
        count += 1
        token = token.next
    return count


def copy_error(error: GraphQLError, message: str | None = None) -> GraphQLError:
    """A new error with the same location, path and extensions (and another message)."""
    return GraphQLError(
        error.message if message is None else message,
        error.nodes,
        error.source,
        error.positions,
        error.path,
        error.original_error,
        dict(error.extensions) if error.extensions else None,
    )
