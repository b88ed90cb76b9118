"""Each field's meaning is written once, in resolvers/ (fields.py, roots.py), for both
executions: the schema's resolvers and its compiled bindings only call it. A module of schema/
that reached the loaders or sources itself would be a second copy of some field's semantics."""

from __future__ import annotations

import re
from pathlib import Path

import schema

SCHEMA = Path(schema.__file__).parent
# a loader or a source used directly: `.load(`, `.load_many(`, `.settle_many(`, `.sources.`
REACHES_DATA = re.compile(r"\.(load|load_many|settle_many)\(|\.sources\.")


def test_no_schema_module_reaches_the_loaders_itself() -> None:
    offending = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(SCHEMA.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if REACHES_DATA.search(line)
    ]
    assert offending == []
