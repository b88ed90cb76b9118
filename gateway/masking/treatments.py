"""What each treatment does to a value. Pure functions of (treatment, class, value): no I/O."""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    get_operation_ast,
)

from schema import SensitiveClass as S

__all__ = ["PLACEHOLDERS", "REDACTED", "Masker", "placeholders"]

REDACTED: dict[S, str] = {
    S.PII_NATIONAL_ID: "***-**-****",
    S.PII_DOB: "****-**-**",
    S.PII_ADDRESS: "*****",
    S.PII_PHONE: "+***********",
    S.PII_EMAIL: "*****@*****",
    S.PCI_PAN: "****************",
    S.PCI_EXPIRY: "****-**",
    S.ACCOUNT_NUMBER: "**********",
    S.BALANCE: "***.**",
    S.TRANSACTIONS: "***",
    S.RISK_SUMMARY: "***",
    S.FRAUD_DETAIL: "[redacted]",
    S.COLLECTIONS_DETAIL: "***",
    S.CONVERSATION: "[redacted]",
}
"""Fixed masks: the same for every value of a class, so a mask leaks no length or digits."""
_MASKS = frozenset(REDACTED.values())


class Masker:
    """Applies a (non-deny) treatment; `hash_key` is the deployment's secret for `hash`."""

    __slots__ = ("_hash_key",)

    def __init__(self, hash_key: bytes) -> None:
        self._hash_key = hash_key

    def apply(self, treatment: str, klass: S, value: Any) -> Any:
        if value is None or treatment == "full":
            return value
        if isinstance(value, list):
            return [self.apply(treatment, klass, item) for item in value]
        text = (
            value if isinstance(value, str) else str(value) if isinstance(value, Decimal) else None
        )
        if text is None or (treatment == "redact" and not isinstance(value, str)):
            # booleans, numbers (a balance) and enums have no masked form: withheld as null,
            # without an error (a mask such as "***.**" is not a Decimal)
            return None
        if treatment == "redact":
            return REDACTED[klass]
        if treatment == "hash":
            digest = hmac.new(self._hash_key, f"{klass.value}:{text}".encode(), hashlib.sha256)
            return "hash:" + digest.hexdigest()[:24]
        if treatment == "bin_last4":
            return _keep(text, lead=6 if len(text) > 10 else 0, tail=4)
        if treatment == "last4":
            return _keep(text, lead=0, tail=4)
        raise ValueError(f"no such treatment: {treatment}")


def _keep(text: str, lead: int, tail: int) -> str:
    """Mask every letter and digit but the first `lead` and last `tail`; keep separators, so
    "912-34-5678" becomes "***-**-5678" and a PAN "411111******1111"."""
    positions = [i for i, ch in enumerate(text) if ch.isalnum()]
    hidden = positions[lead : max(len(positions) - tail, lead)]
    if not hidden:
        return text
    chars = list(text)
    for i in hidden:
        chars[i] = "*"
    return "".join(chars)


PLACEHOLDERS: dict[str, Any] = {
    "String": "string",
    "ID": "id",
    "Int": 0,
    "Float": 0.0,
    "Boolean": False,
    "Decimal": "0.00",
    "DateTime": "1970-01-01T00:00:00+00:00",
}
"""What a role with `values = "placeholder"` gets for each scalar (an enum: its first value):
valid for the type, the same for every value, so nothing of the data shows through."""


def placeholders(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    data: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """`data` with every leaf but `__typename` replaced by its type's placeholder, walking the
    operation's selections (aliases, fragments) over the schema. Lists keep their length and
    nulls stay null (the shape of the answer is what a developer explores); introspection
    (`__schema`, `__type`) describes the schema, not customers, and is left as it is, and so is
    a fixed mask (`***-**-****`) the policy already put in place of a sensitive value."""
    operation = get_operation_ast(document, operation_name)
    query = schema.query_type
    if data is None or operation is None or query is None:
        return data
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }

    def fields(sets: list[SelectionSetNode]) -> dict[str, tuple[str, list[SelectionSetNode]]]:
        found: dict[str, tuple[str, list[SelectionSetNode]]] = {}

        def visit(selection_set: SelectionSetNode) -> None:
            for node in selection_set.selections:
                if isinstance(node, FieldNode):
                    key = node.alias.value if node.alias else node.name.value
                    _, subsets = found.setdefault(key, (node.name.value, []))
                    if node.selection_set is not None:
                        subsets.append(node.selection_set)
                elif isinstance(node, InlineFragmentNode):
                    visit(node.selection_set)
                elif isinstance(node, FragmentSpreadNode):
                    fragment = fragments.get(node.name.value)
                    if fragment is not None:
                        visit(fragment.selection_set)

        for selection_set in sets:
            visit(selection_set)
        return found

    def replace(type_: GraphQLOutputType, value: Any, sets: list[SelectionSetNode]) -> Any:
        if value is None:
            return None
        if isinstance(type_, GraphQLNonNull):
            type_ = type_.of_type
        if isinstance(type_, GraphQLList):
            return [replace(type_.of_type, item, sets) for item in value]
        if isinstance(type_, GraphQLObjectType):
            return obj(type_, value, sets)
        if isinstance(type_, GraphQLEnumType):
            return next(iter(type_.values))
        if isinstance(value, str) and value in _MASKS:
            return value  # a sensitive value the policy redacted: its class's mask says more
        return PLACEHOLDERS.get(getattr(type_, "name", ""), "string")

    def obj(type_: GraphQLObjectType, value: dict[str, Any], sets: list[SelectionSetNode]) -> Any:
        selected = fields(sets)
        out: dict[str, Any] = {}
        for key, item in value.items():
            name, subsets = selected.get(key, ("__typename", []))
            field_def = type_.fields.get(name)
            out[key] = item if field_def is None else replace(field_def.type, item, subsets)
        return out

    result: dict[str, Any] = obj(query, data, [operation.selection_set])
    return result
