"""docs/examples/client.ts parses as TypeScript (tree-sitter's grammar: no node needed), and the
operations it sends are the documented ones, valid against the printed schema."""

from __future__ import annotations

import tree_sitter_typescript
from graphql import build_schema, parse, validate
from tree_sitter import Language, Node, Parser

from .conftest import EXAMPLES, ROOT

CLIENT = EXAMPLES / "client.ts"


def syntax_tree() -> Node:
    parser = Parser(Language(tree_sitter_typescript.language_typescript()))
    return parser.parse(CLIENT.read_bytes()).root_node


def problems(node: Node) -> list[str]:
    if node.is_error or node.is_missing:
        return [f"line {node.start_point[0] + 1}: {node.type} {node.text!r:.60}"]
    return [p for child in node.children for p in problems(child)]


def constant(tree: Node, name: str) -> str:
    """The text of `export const <name> = `...`;` (a template literal without substitutions)."""
    for node in tree.children:
        declaration = node.child_by_field_name("declaration") or node
        for declarator in declaration.named_children:
            if declarator.type != "variable_declarator":
                continue
            ident, value = (
                declarator.child_by_field_name("name"),
                declarator.child_by_field_name("value"),
            )
            if ident is not None and ident.text == name.encode() and value is not None:
                assert value.type == "template_string", value.type
                assert not [c for c in value.named_children if c.type == "template_substitution"]
                return (value.text or b"").decode()[1:-1]
    raise AssertionError(f"no constant {name} in {CLIENT}")


def test_client_ts_parses_as_typescript() -> None:
    tree = syntax_tree()
    assert tree.type == "program" and not tree.has_error, problems(tree)


def test_client_ts_sends_the_documented_screen_pop_which_the_schema_accepts() -> None:
    query = constant(syntax_tree(), "SCREEN_POP")
    assert query == (EXAMPLES / "screenpop.graphql").read_text()
    schema = build_schema((ROOT / "schema.graphql").read_text())
    assert validate(schema, parse(query)) == []


def test_every_example_operation_is_valid_against_the_schema() -> None:
    schema = build_schema((ROOT / "schema.graphql").read_text())
    for path in sorted(EXAMPLES.glob("*.graphql")):
        assert validate(schema, parse(path.read_text())) == [], path
