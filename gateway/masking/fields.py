"""The one table of sensitive fields, derived once from the schema and read by both executions.

The schema marks a field `@sensitive(class: ...)` (schema/sensitive.py). What the gateway needs
to mask it is the same whether standard execution wraps its resolver (gateway/masking/wrappers.py)
or a compiled plan projects it (gateway/execution/compile.py): its coordinate, how its class is
found (fixed by the schema, per record on a `VariablySensitive` type, or per record and derived,
shown or replaced by a neutral value), and whether it is a leaf to mask or an object field to
gate. Finding that in two places let the two drift; here it is found once per schema.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any

from graphql import GraphQLObjectType, GraphQLSchema, get_named_type

from schema import SensitiveClass
from schema.sensitive import class_of, neutral_of, read_as_of

__all__ = ["How", "SensitiveField", "sensitive_fields"]


class How(Enum):
    """How a sensitive field's class is found for one value."""

    FIXED = "fixed"
    """The class the schema declares, for every value."""
    VARIABLE = "variable"
    """Per record (`VariablySensitive.sensitive_class`); None: not sensitive for that record."""
    DERIVED = "derived"
    """Per record, as VARIABLE, and a value less than `full` shows `neutral` (`derived`)."""


@dataclass(frozen=True, slots=True)
class SensitiveField:
    coordinate: str
    """"Type.field", as audit records name it."""
    python_name: str
    klass: SensitiveClass
    """The class the SDL shows (for VARIABLE and DERIVED, the record may say another)."""
    how: How
    gate: bool
    """An object or list-of-objects field: a denied class is refused before it is fetched."""
    attribute: bool
    """A plain attribute of its record (no resolver of its own)."""
    neutral: Any = None
    """What a DERIVED field shows to a caller who does not see its class in full."""
    audited: str = ""
    """The coordinate a FIXED field is decided and audited as: its own, or that of the field
    whose value it copies (`schema.sensitive.sensitive(read_as=...)`, a discrepancy's)."""


_TABLES: weakref.WeakKeyDictionary[GraphQLSchema, Mapping[str, SensitiveField]] = (
    weakref.WeakKeyDictionary()
)


def sensitive_fields(schema: GraphQLSchema) -> Mapping[str, SensitiveField]:
    """{coordinate: SensitiveField} of every sensitive field of `schema` (a strawberry-built
    schema), built on first use and shared read-only."""
    table = _TABLES.get(schema)
    if table is None:
        table = _TABLES[schema] = MappingProxyType(_discover(schema))
    return table


def _discover(schema: GraphQLSchema) -> dict[str, SensitiveField]:
    table: dict[str, SensitiveField] = {}
    for gql_type in schema.type_map.values():
        if not isinstance(gql_type, GraphQLObjectType) or gql_type.name.startswith("__"):
            continue
        owner = gql_type.extensions["strawberry-definition"].origin
        variable = hasattr(owner, "sensitive_class")
        for name, field in gql_type.fields.items():
            definition = field.extensions.get("strawberry-definition")
            klass = class_of(definition)
            if klass is None:
                continue
            gate = isinstance(get_named_type(field.type), GraphQLObjectType)
            is_derived, neutral = neutral_of(definition)
            how = How.FIXED
            if variable and not gate:
                how = How.DERIVED if is_derived else How.VARIABLE
            coordinate = f"{gql_type.name}.{name}"
            table[coordinate] = SensitiveField(
                coordinate=coordinate,
                python_name=definition.python_name,
                klass=klass,
                how=how,
                gate=gate,
                attribute=definition.base_resolver is None,
                neutral=neutral,
                audited=read_as_of(definition) or coordinate,
            )
    return table
