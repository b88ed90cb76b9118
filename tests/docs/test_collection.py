"""The Postman collection and the .http file are generated from docs/examples/*.graphql and
up to date (scripts/gen_collection.py --check); test_examples.py runs their requests."""

from __future__ import annotations

import json
import subprocess
import sys

from .conftest import EXAMPLES, ROOT


def test_the_generated_collections_are_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/gen_collection.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_collections_hold_every_example_operation() -> None:
    collection = json.loads((EXAMPLES / "switchboard.postman_collection.json").read_text())
    assert collection["info"]["schema"].endswith("/v2.1.0/collection.json")
    names = {item["name"] for item in collection["item"]}
    http = (EXAMPLES / "switchboard.http").read_text()
    for path in EXAMPLES.glob("*.graphql"):
        operation = next(
            line.split()[1].split("(")[0]
            for line in path.read_text().splitlines()
            if line.startswith("query ")
        )
        assert operation in names and f"### {operation}\n" in http, path
