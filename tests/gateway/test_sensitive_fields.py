"""The one table of sensitive fields (gateway/masking/fields.py): every field the SDL marks
`@sensitive`, and every derived field, is in it as the schema declares it, and standard
execution wraps exactly those fields (the compiled side: tests/gateway/test_plans.py)."""

from __future__ import annotations

from graphql import (
    FieldDefinitionNode,
    GraphQLObjectType,
    ObjectTypeDefinitionNode,
    StringValueNode,
    get_named_type,
    parse,
)
from strawberry.types.base import StrawberryObjectDefinition

from gateway.masking.fields import How, sensitive_fields
from gateway.masking.wrappers import install_masking
from schema import SensitiveClass, build_schema
from schema.sensitive import NEUTRAL


def _sdl_sensitive() -> dict[str, str]:
    """{"Type.field": class} from the printed SDL: what clients are told is sensitive."""
    found: dict[str, str] = {}
    for definition in parse(build_schema().as_str()).definitions:
        if not isinstance(definition, ObjectTypeDefinitionNode):
            continue
        for field in definition.fields or ():
            assert isinstance(field, FieldDefinitionNode)
            for directive in field.directives or ():
                if directive.name.value == "sensitive":
                    (argument,) = directive.arguments or ()
                    assert not isinstance(argument.value, StringValueNode)
                    klass = getattr(argument.value, "value")  # noqa: B009 (an enum value node)
                    found[f"{definition.name.value}.{field.name.value}"] = klass
    return found


def _derived() -> dict[str, object]:
    """{coordinate: neutral value} of the derived fields, from strawberry's type definitions."""
    schema = build_schema()
    found = {}
    for gql_type in schema._schema.type_map.values():
        definition = (
            gql_type.extensions.get("strawberry-definition") if gql_type.extensions else None
        )
        if not isinstance(definition, StrawberryObjectDefinition):
            continue
        for field in definition.fields:
            if NEUTRAL in (field.metadata or {}):
                name = schema.config.name_converter.get_graphql_name(field)
                found[f"{gql_type.name}.{name}"] = field.metadata[NEUTRAL]
    return found


def test_every_sensitive_field_of_the_sdl_is_in_the_table_with_its_class() -> None:
    table = sensitive_fields(build_schema()._schema)
    sdl = _sdl_sensitive()
    assert sdl, "the SDL marks sensitive fields"
    assert {c: f.klass.value for c, f in table.items()} == sdl


def test_derived_fields_are_in_the_table_with_their_neutral_value() -> None:
    table = sensitive_fields(build_schema()._schema)
    derived = _derived()
    assert derived, "the schema has derived fields"
    assert {c: f.neutral for c, f in table.items() if f.how is How.DERIVED} == derived


def test_gates_are_the_object_fields_and_fixed() -> None:
    schema = build_schema()._schema
    for coordinate, field in sensitive_fields(schema).items():
        assert field.coordinate == coordinate
        type_name, _, name = coordinate.partition(".")
        owner = schema.type_map[type_name]
        assert isinstance(owner, GraphQLObjectType)
        named = get_named_type(owner.fields[name].type)
        assert field.gate == isinstance(named, GraphQLObjectType), coordinate
        if field.gate:
            assert field.how is How.FIXED


def test_the_table_is_built_once_per_schema_and_read_only() -> None:
    schema = build_schema()._schema
    table = sensitive_fields(schema)
    assert sensitive_fields(schema) is table
    assert not hasattr(table, "__setitem__")


def test_standard_execution_wraps_exactly_the_table() -> None:
    schema = build_schema()
    table = sensitive_fields(schema._schema)
    wrapped = install_masking(schema)
    assert wrapped == {c: f.klass for c, f in table.items()}
    assert all(isinstance(k, SensitiveClass) for k in wrapped.values())
    for gql_type in schema._schema.type_map.values():
        if not isinstance(gql_type, GraphQLObjectType):
            continue  # input objects (the write-back inputs) have fields but no resolvers
        for name, field in gql_type.fields.items():
            resolve = field.resolve
            by_masking = getattr(resolve, "__module__", None) == "gateway.masking.wrappers"
            assert by_masking == (f"{gql_type.name}.{name}" in table), f"{gql_type.name}.{name}"
