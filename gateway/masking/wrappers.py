"""Field-level masking, installed once when the gateway builds the schema.

The schema marks sensitive fields with `@sensitive(class: ...)`; here each such field's resolver
is wrapped, once, at start-up. On a leaf the wrapper masks the value after it arrives,
synchronously (async per-field hooks cost 7-10x on large lists); on an object or list field it
is a gate: a denied class is refused before the field's resolver runs, so no back-end call is
made for it. Every other field keeps its plain resolver. Because the wrapper sits on the field
itself, aliases, fragments, nested paths and lists all pass through it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLObjectType, GraphQLResolveInfo, default_field_resolver

from gateway.masking.access import Access
from gateway.masking.fields import How, SensitiveField, sensitive_fields
from schema import SensitiveClass
from schema.sensitive import shown

__all__ = ["install_masking"]

Resolver = Callable[..., Any]


def install_masking(schema: strawberry.Schema) -> dict[str, SensitiveClass]:
    """Wrap every sensitive field of `schema` (gateway/masking/fields.py); returns
    {"Type.field": class} of what was wrapped."""
    gql_schema = schema._schema
    wrapped: dict[str, SensitiveClass] = {}
    for sensitive in sensitive_fields(gql_schema).values():
        type_name, _, name = sensitive.coordinate.partition(".")
        gql_type = gql_schema.type_map[type_name]
        assert isinstance(gql_type, GraphQLObjectType)
        field = gql_type.fields[name]
        field.resolve = _wrap(sensitive, field.resolve or default_field_resolver)
        wrapped[sensitive.coordinate] = sensitive.klass
    return wrapped


def _wrap(field: SensitiveField, original: Resolver) -> Resolver:
    coordinate, klass, python_name = field.audited, field.klass, field.python_name
    if field.gate:
        return _gate(original, coordinate, klass)
    if field.how is not How.FIXED:
        derived = field.how is How.DERIVED
        return _mask_variable(original, field.coordinate, python_name, derived, field.neutral)
    if field.attribute:
        return _mask_attribute(python_name, coordinate, klass)
    return _mask(original, coordinate, klass)


def _mask(original: Resolver, coordinate: str, klass: SensitiveClass) -> Resolver:
    def resolve(source: Any, info: GraphQLResolveInfo[Any], **args: Any) -> Any:
        value = original(source, info, **args)
        access: Access = info.context.access
        treatment = access.decide(coordinate, klass, source.owner, info.path)
        if treatment == "full":
            return value
        if treatment == "deny":
            raise access.forbidden(klass)
        return access.masker.apply(treatment, klass, value)

    return resolve


def _mask_attribute(name: str, coordinate: str, klass: SensitiveClass) -> Resolver:
    """`_mask` for a plain attribute (most sensitive leaves): reads it directly, the way
    strawberry's basic-field fast path would, with no extra call."""

    def resolve(source: Any, info: GraphQLResolveInfo[Any], **args: Any) -> Any:
        access: Access = info.context.access
        treatment = access.decide(coordinate, klass, source.owner, info.path)
        if treatment == "full":
            return getattr(source, name)
        if treatment == "deny":
            raise access.forbidden(klass)
        return access.masker.apply(treatment, klass, getattr(source, name))

    return resolve


def _mask_variable(
    original: Resolver, coordinate: str, python_name: str, derived: bool, neutral: Any
) -> Resolver:
    """For objects whose field's class depends on the value (`VariablySensitive`): masked, or,
    for a value `derived` from a class (`schema.sensitive.derived`), the value or its neutral
    stand-in, audited as a read of the class it derives from."""

    def resolve(source: Any, info: GraphQLResolveInfo[Any], **args: Any) -> Any:
        value = original(source, info, **args)
        klass = source.sensitive_class(python_name)
        if klass is None:
            return value
        access: Access = info.context.access
        treatment = access.decide(f"{coordinate}:{klass.value}", klass, source.owner, info.path)
        if derived:
            return shown(treatment, value, neutral)
        if treatment == "deny":
            raise access.forbidden(klass)
        return access.masker.apply(treatment, klass, value)

    return resolve


def _gate(original: Resolver, coordinate: str, klass: SensitiveClass) -> Resolver:
    def resolve(source: Any, info: GraphQLResolveInfo[Any], **args: Any) -> Any:
        access: Access = info.context.access
        if access.decide(coordinate, klass, source.owner, info.path) == "deny":
            raise access.forbidden(klass)
        return original(source, info, **args)

    return resolve
