"""Each package's public surface, pinned (httpx's tests/test_exported_members.py): `__all__` is
exactly the names the package itself defines or re-exports from its own modules, sorted the way
ruff's RUF022 sorts (constants, classes, functions), and every one of them resolves. A name
added without a decision, or dropped without one, fails here."""

from __future__ import annotations

import ast
import importlib
import types
from pathlib import Path

import pytest

PACKAGES = ["gateway", "schema", "resolvers", "sources", "sources.sandbox"]

PINNED = {"gateway": ["Config", "create_app", "load_config"]}
"""The gateway's surface, by the letter: the app, its configuration and how to load it."""


def _ruff_order(name: str) -> tuple[int, str]:
    if name.isupper():
        return (0, name)
    return (1, name) if name[0].isupper() else (2, name)


def _own_public_names(module: types.ModuleType) -> set[str]:
    """The public names the package's `__init__` binds: its definitions and what it imports
    from its own modules; not submodules, nor third-party imports (a `from typing import Any`
    inside it is not part of its surface). Read from the source, so lazily loaded names
    (gateway's, declared under TYPE_CHECKING) count as well."""
    package = module.__name__.split(".")[0]
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    names: set[str] = set()
    statements = list(tree.body)
    while statements:  # module level, and the branches of its `if`s (TYPE_CHECKING)
        node = statements.pop()
        if isinstance(node, ast.If):
            statements += [*node.body, *node.orelse]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom) and (
            node.level > 0 or (node.module or "").split(".")[0] == package
        ):
            names.update(alias.asname or alias.name for alias in node.names)
    return {n for n in names if not n.startswith("_")}


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_exactly_the_public_names_sorted(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    for member in exported:
        getattr(module, member)  # resolves (lazy ones included)
    assert exported == sorted(_own_public_names(module), key=_ruff_order)


@pytest.mark.parametrize(("name", "members"), sorted(PINNED.items()))
def test_pinned_surface(name: str, members: list[str]) -> None:
    assert importlib.import_module(name).__all__ == members
