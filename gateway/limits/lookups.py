"""Which root fields of an operation look customers up (issue #12, item 4): found before
execution, by the admission (gateway/limits/admission.py), so a refusal costs no back-end call.

`find_lookups` is the one rule for both roads. What it finds depends on the document, the
operation, and of the variables only on which are given, null, or which boolean they are
(@include/@skip, and which search keys a lookup was given): so it is cached per (schema,
document text, operation name, those facts), never per variable value (phones, emails are
PII). The direct road hands it the variables its executor already coerced; `Schema.execute`
lets it coerce them itself.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from graphql import (
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
)
from graphql.execution.collect_fields import FragmentDetails, collect_fields
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values

from gateway.limits.shape import DocumentCache

__all__ = ["FOUND", "LOOKUP_FIELDS", "SEARCH_FIELDS", "Lookup", "find_lookups"]

LOOKUP_FIELDS = frozenset(
    {"findCustomers", "customer", "customers", "interaction", "routingContext"}
)
SEARCH_FIELDS = frozenset({"findCustomers", "routingContext"})
"""Lookups whose keys can be guessed (a phone, an email, an account number): counted per window.
By-id reads are not secrets to guess; what they return is bounded by the data budget.
`routingContext` is a search when given a phone (`Lookup.guessable`)."""


@dataclass(frozen=True, slots=True)
class Lookup:
    key: str
    """The response key (the alias, if any)."""
    field: str
    kinds: tuple[str, ...]
    """Which search keys were given (phone, email, accountNumber), never their values."""

    @property
    def guessable(self) -> bool:
        """Counted per window: a search by a key one can guess (routingContext by id is not)."""
        return self.field == "findCustomers" or (
            self.field == "routingContext" and "phone" in self.kinds
        )


FOUND = DocumentCache(4 * 1024 * 1024)
"""The lookups per (schema, text, operation name, the variables' facts), bounded by bytes."""


def find_lookups(
    schema: GraphQLSchema,
    document: Any,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    coerced: VariableValues | None = None,
) -> list[Lookup]:
    """The operation's lookup root fields as execution will see them (fragments, aliases,
    @include/@skip). An operation that execution will refuse anyway (unknown operation,
    variables that do not coerce) has none: it makes no call. `coerced`: `variables` as the
    operation's executor coerced them (the direct road's), not coerced again."""
    operation = get_operation_ast(document, operation_name)
    root = schema.query_type
    if operation is None or root is None or operation.operation is not OperationType.QUERY:
        return []
    if coerced is None:
        values = get_variable_values(schema, operation.variable_definitions or (), variables or {})
        if not isinstance(values, VariableValues):
            return []
        coerced = values
    loc = document.loc
    if loc is None:
        return _found(schema, document, operation, root, coerced)
    text: str = loc.source.body
    key = (schema, text, operation_name, _facts(operation, coerced))
    found: tuple[Lookup, ...] = FOUND.get(
        key,
        lambda: (
            sys.getsizeof(text) + 400,
            tuple(_found(schema, document, operation, root, coerced)),
        ),
    )
    return list(found)  # the cached tuple is shared: each admission gets its own list


def _facts(operation: OperationDefinitionNode, coerced: VariableValues) -> tuple[int, ...]:
    """Per declared variable, all that the lookups depend on: absent 0, null 1, false 2,
    true 3, any other value 4 (never the value itself)."""
    values = coerced.coerced
    facts = []
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in values:
            facts.append(0)
            continue
        value = values[name]
        if value is None:
            facts.append(1)
        elif value is True or value is False:
            facts.append(3 if value else 2)
        else:
            facts.append(4)
    return tuple(facts)


def _found(
    schema: GraphQLSchema,
    document: Any,
    operation: OperationDefinitionNode,
    root: GraphQLObjectType,
    coerced: VariableValues,
) -> list[Lookup]:
    fragments = {
        d.name.value: FragmentDetails(d, None)
        for d in document.definitions
        if isinstance(d, FragmentDefinitionNode)
    }
    collected = collect_fields(schema, fragments, coerced, root, operation)
    found = []
    for key, details in collected.grouped_field_set.items():
        node = details[0].node
        name = node.name.value
        if name not in LOOKUP_FIELDS:
            continue
        kinds: tuple[str, ...] = ()
        if name in SEARCH_FIELDS:
            try:
                args = get_argument_values(root.fields[name], node, coerced)
            except GraphQLError:
                args = {}
            kinds = tuple(sorted(k for k, v in args.items() if v is not None))
        found.append(Lookup(key, name, kinds))
    return found
