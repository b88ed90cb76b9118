"""The README's "Promises and the tests that hold them": every test it names exists, so the table
cannot point at a test that was renamed or removed."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_NAMED = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def _section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Promises and the tests that hold them")
    return readme[start : readme.index("\n## ", start + 1)]


def test_every_test_the_promises_name_exists() -> None:
    named = _NAMED.findall(_section())
    assert len(named) >= 10
    missing = []
    for path, name in named:
        source = (ROOT / path).read_text(encoding="utf-8")
        if not re.search(rf"^(async )?def {name}\(", source, re.MULTILINE):
            missing.append(f"{path}::{name}")
    assert missing == []
