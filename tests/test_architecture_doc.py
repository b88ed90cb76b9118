"""docs/architecture.md draws the walk of one request with the modules' paths: every path it
names exists, so the drawing cannot point at a module that was moved or removed."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_PATH = re.compile(r"\b((?:gateway|schema|resolvers|sources|tests)/[\w/{},.]*\w)")


def _named_paths() -> set[str]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    paths: set[str] = set()
    for path in _PATH.findall(text):
        group = re.fullmatch(r"(.*)\{(.*)\}(.*)", path)  # gateway/x/{a,b}.py
        if group:
            head, names, tail = group.groups()
            paths.update(head + name + tail for name in names.split(","))
        else:
            paths.add(path)
    return paths


def test_every_module_the_architecture_names_exists() -> None:
    named = _named_paths()
    assert len(named) >= 30
    assert sorted(p for p in named if not (ROOT / p).exists()) == []


def test_the_walk_visits_each_folder_once_in_order() -> None:
    """The table's steps, in the issue's order, each in its own folder."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d) \| (\w+) \| `([\w/]+)` \|", text, re.MULTILINE)
    steps = [step for _, step, _ in rows]
    assert steps == [
        "HTTP",
        "auth",
        "limits",
        "execution",
        "loaders",
        "source",
        "masking",
        "audit",
        "response",
    ]
    folders = [folder for _, _, folder in rows]
    assert len(set(folders[:-1])) == 8  # the response leaves the way the request came in
    assert folders[-1] == folders[0]
