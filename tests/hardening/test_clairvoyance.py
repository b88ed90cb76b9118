"""clairvoyance (schema recovery without introspection, PyPI 2.5.5) against the production
profile recovers nothing beyond the root type name, even with a wordlist that holds every name
of the schema. The tool runs from its own venv (.venv/tools/clairvoyance, made by dev.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from schema import build_schema

from .conftest import Production, root

TOOL = root() / ".venv" / "tools" / "clairvoyance" / "bin" / "clairvoyance"
NOISE = ["user", "users", "admin", "login", "password", "token", "node", "order", "email", "item"]


def wordlist(path: Path) -> Path:
    words = set(NOISE)
    for gql_type in build_schema()._schema.type_map.values():
        if gql_type.name.startswith("__"):
            continue
        words.add(gql_type.name)
        for name, field in getattr(gql_type, "fields", {}).items():
            words.add(name)
            words.update(getattr(field, "args", None) or {})
    path.write_text("\n".join(sorted(words)))
    return path


def test_clairvoyance_recovers_nothing_from_production(
    production: Production, tmp_path: Path
) -> None:
    if not TOOL.exists():
        pytest.fail(f"{TOOL} is missing: `python3 dev.py test` installs clairvoyance there")
    out = tmp_path / "recovered.json"
    run = subprocess.run(
        [
            str(TOOL),
            "-o",
            str(out),
            "-w",
            str(wordlist(tmp_path / "words.txt")),
            "-H",
            f"Authorization: Bearer {production.tokens['agent']}",
            f"{production.url}/graphql",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    recovered: list[str] = []
    if out.exists():
        schema = json.loads(out.read_text())["data"]["__schema"]
        for gql_type in schema["types"]:
            if gql_type["name"] in ("String", "ID", "Int", "Float", "Boolean"):
                continue
            recovered.append(gql_type["name"])
            recovered += [f"{gql_type['name']}.{f['name']}" for f in gql_type.get("fields") or []]
    assert set(recovered) <= {"Query"}, f"clairvoyance recovered {recovered}"
    assert run.returncode != 0 or not recovered, run.stdout[-2000:]
