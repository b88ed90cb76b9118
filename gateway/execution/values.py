"""How a compiled plan reads and writes one leaf: the GraphQL type's shape, the JSON form of a
system's value (enums by table, dates and decimals as text), a record attribute's getter, and
the `Unsupported` verdict for what the compiler cannot plan (its reason a fixed label)."""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLOutputType,
    GraphQLScalarType,
    get_named_type,
)

from schema.bindings import Read

__all__ = [
    "Unsupported",
    "compose",
    "converter",
    "getter",
    "has_variable",
    "identifier",
    "serializer",
    "shape_of",
]


class Unsupported(Exception):
    """The compiler cannot plan this operation; `reason` is a short, fixed label for metrics."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def shape_of(type_: GraphQLOutputType) -> tuple[bool, bool, bool, Any]:
    """(nullable, is_list, item_nullable, named type); lists of lists are not in this schema."""
    nullable = not isinstance(type_, GraphQLNonNull)
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if isinstance(inner, GraphQLList):
        item = inner.of_type
        item_nullable = not isinstance(item, GraphQLNonNull)
        named = item.of_type if isinstance(item, GraphQLNonNull) else item
        if isinstance(named, GraphQLList):
            raise Unsupported("nested_list")
        return nullable, True, item_nullable, named
    return nullable, False, True, inner


def serializer(type_: GraphQLOutputType) -> Any:
    """None (the value is already its JSON form), a dict (enum: system value or Python enum
    member -> GraphQL name), or a function (DateTime, Decimal), applied to each item of a
    list."""
    named = get_named_type(type_)
    if isinstance(named, GraphQLEnumType):
        table: dict[Any, Any] = {None: None}
        for name, value in named.values.items():
            table[getattr(value.value, "value", value.value)] = name
        # strawberry's enum type also serializes its Python enum's members: what an object
        # made by a resolver holds (a subscription's payload), where a record holds the value
        for member in getattr(named, "wrapped_cls", None) or ():
            if member.value in table:
                table[member] = table[member.value]
        return table
    if isinstance(named, GraphQLScalarType) and named.name in ("DateTime", "Date"):
        return _isoformat
    if isinstance(named, GraphQLScalarType) and named.name == "Decimal":
        return _decimal
    if isinstance(named, GraphQLScalarType) and named.name in ("String", "ID", "Int", "Boolean"):
        return None
    raise Unsupported("scalar", named.name)


def _isoformat(value: Any) -> Any:
    return None if value is None else value.isoformat()


def _decimal(value: Any) -> Any:
    return None if value is None else str(value)


def _identity(value: Any) -> Any:
    return value


def converter(ser: Any) -> Callable[[Any], Any]:
    """The function turning one system value into its JSON form: `ser` (a `serializer`) as a
    call (an enum's table as its lookup; None: the value itself)."""
    if ser is None:
        return _identity
    convert: Callable[[Any], Any] = ser.__getitem__ if isinstance(ser, dict) else ser
    return convert


def compose(get: Callable[[Any], Any], ser: Any, is_list: bool) -> Callable[[Any], Any]:
    """`get` then `ser` (applied to each item of a list). The field's type says, at compile
    time, whether its value is a list: a scalar field's reader converts without asking."""
    if ser is None:
        return get
    convert = converter(ser)
    if not is_list and get is _identity:
        return convert  # the value at hand (a leaf's `full`): the conversion itself
    if not is_list:

        def read_one(r: Any) -> Any:
            return convert(get(r))

        return read_one

    def read(r: Any) -> Any:
        value = get(r)
        if isinstance(value, list):
            return [convert(v) for v in value]
        return convert(value)

    return read


def getter(binding: Any, python_name: str) -> Callable[[Any], Any]:
    if isinstance(binding, Read):
        return binding.get
    getter_: Callable[[Any], Any] = attrgetter(identifier(python_name))  # in C
    return getter_


def identifier(name: str) -> str:
    if not name.isidentifier():
        raise Unsupported("field_name", name)
    return name


def has_variable(value: Any) -> bool:
    if value.kind == "variable":
        return True
    if value.kind == "list_value":
        return any(has_variable(v) for v in value.values)
    if value.kind == "object_value":
        return any(has_variable(f.value) for f in value.fields)
    return False
