"""Every example of README.md and docs/ runs as written against `python3 dev.py demo` (issue
#11, item 4): the curl lines with the banner's exports, the GraphQL documents with the agent's
headers, the generated collections, and every TOML snippet meant for `switchboard serve
--config`. The README's sample phone must find the customers it names with the default seed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import load_config
from gateway.masking.policy import Policy
from sources.sandbox.population import Population

from .conftest import EXAMPLES, ROOT, Block, Demo, blocks, fenced_blocks

# a `<!-- stream: ... -->` block never ends by itself: tests/docs/test_stream_examples.py
CURL = [
    b
    for b in blocks("sh")
    if b.text.lstrip().startswith("curl") and not (b.marker and b.marker[0] == "stream")
]
GRAPHQL = blocks("graphql")
TOML = blocks("toml")
DEFAULT_SEED, DEFAULT_CUSTOMERS = 7, 10_000  # `python3 dev.py demo` without options


def has_content(value: Any) -> bool:
    """Not only nulls and empty lists: a phone that matches nobody answers `[]`."""
    if isinstance(value, dict):
        return any(has_content(v) for v in value.values())
    if isinstance(value, list):
        return any(has_content(v) for v in value)
    return value is not None


def check_answer(body: dict[str, Any], expected_codes: set[str], where: str) -> None:
    assert body.get("data") and has_content(body["data"]), f"{where}: no data: {body}"
    codes = {e.get("extensions", {}).get("code") for e in body.get("errors", [])}
    if expected_codes:
        assert codes and codes <= expected_codes, f"{where}: errors {codes}: {body}"
    else:
        assert not codes, f"{where}: unexpected errors: {body.get('errors')}"


def expected_codes(block: Block) -> set[str]:
    if block.marker and block.marker[0] == "expect-errors":
        return {c.strip() for c in block.marker[1].split(",")}
    return set()


def variables_for(document: str, demo: Demo) -> dict[str, str]:
    known = {"phone": demo.env["PHONE"], "interactionId": demo.env["INTERACTION_ID"]}
    declared = re.findall(r"\$(\w+)\s*:", document)
    assert set(declared) <= set(known), f"no demo value for {declared}"
    return {name: known[name] for name in declared}


def test_the_documents_have_curl_graphql_and_toml_examples() -> None:
    """The collectors below find what they check (a renamed fence would skip silently)."""
    assert len(CURL) >= 4 and len(GRAPHQL) >= 2 and len(TOML) >= 6


@pytest.mark.parametrize("block", CURL, ids=[b.id for b in CURL])
def test_curl_example_answers_with_data(block: Block, demo: Demo, tmp_path: Path) -> None:
    # The command runs as written; curl's own config file adds the status line after the body.
    (tmp_path / ".curlrc").write_text('write-out = "\\n%{http_code}"\n')
    env = {**os.environ, **demo.env, "CURL_HOME": str(tmp_path)}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.text],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"{block.id}: {done.stderr}"
    output, _, status = done.stdout.rpartition("\n")
    assert status == "200", f"{block.id}: HTTP {status}: {output[:300]}"
    try:
        body = json.loads(output)
    except json.JSONDecodeError:
        pytest.fail(f"{block.id} did not answer JSON: {done.stdout[:300]!r}")
    check_answer(body, expected_codes(block), block.id)


def graphql_examples() -> list[Any]:
    found = [(b.id, b.text) for b in GRAPHQL]
    found += [(str(p.relative_to(ROOT)), p.read_text()) for p in sorted(EXAMPLES.glob("*.graphql"))]
    return [pytest.param(where, document, id=where) for where, document in found]


@pytest.mark.parametrize(("where", "document"), graphql_examples())
def test_graphql_example_answers_with_the_agent_s_headers(
    where: str, document: str, demo: Demo
) -> None:
    answer = httpx.post(
        demo.url,
        json={"query": document, "variables": variables_for(document, demo)},
        headers=demo.agent_headers,
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    check_answer(answer.json(), set(), where)


def substitute(text: str, demo: Demo) -> str:
    return re.sub(r"\{\{(\w+)\}\}", lambda m: demo.env[m.group(1)], text)


def test_the_postman_collection_s_requests_answer(demo: Demo) -> None:
    collection = json.loads((EXAMPLES / "switchboard.postman_collection.json").read_text())
    assert collection["item"]
    for item in collection["item"]:
        request = item["request"]
        answer = httpx.request(
            request["method"],
            substitute(request["url"]["raw"], demo),
            headers={h["key"]: substitute(h["value"], demo) for h in request["header"]},
            content=substitute(request["body"]["raw"], demo).encode(),
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        check_answer(answer.json(), set(), item["name"])


def test_the_http_file_s_requests_answer(demo: Demo) -> None:
    text = (EXAMPLES / "switchboard.http").read_text()
    requests = text.split("\n### ")[1:]
    assert requests
    for request in requests:
        head, _, body = request.partition("\n\n")
        name, start, *header_lines = head.splitlines()
        method, url = start.split(" ", 1)
        headers = dict(line.split(": ", 1) for line in header_lines)
        answer = httpx.request(
            method,
            substitute(url, demo),
            headers={k: substitute(v, demo) for k, v in headers.items()},
            content=substitute(body, demo).encode(),
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        check_answer(answer.json(), set(), name)


# --- the README's sample phone, with the default seed ---


def readme_screen_pop() -> Block:
    [block] = [b for b in fenced_blocks(ROOT / "README.md") if "query ScreenPop" in b.text]
    return block


def test_the_readme_phone_finds_the_customers_the_readme_names() -> None:
    block = readme_screen_pop()
    phone = re.search(r'findCustomers\(phone: "(\+\d+)"\)', block.text)
    assert phone, "the README's screen-pop should use an E.164 phone"
    readme = (ROOT / "README.md").read_text()
    intro = readme[: readme.index(block.text)][-300:]  # the paragraph introducing the block
    named = set(re.findall(r"003SB\d{13}", intro))
    population = Population(DEFAULT_SEED, DEFAULT_CUSTOMERS)
    found = {population.customers[i].crm_id for i in population.by_phone.get(phone[1], [])}
    assert found, f"{phone[1]} matches nobody with seed {DEFAULT_SEED}"
    assert found == named, f"README names {named}, the phone finds {found}"


def test_the_demo_prints_the_readme_phone(demo: Demo) -> None:
    """The banner's PHONE (and the customer on the agent's live call) is the README's."""
    phone = re.search(r'findCustomers\(phone: "(\+\d+)"\)', readme_screen_pop().text)
    assert phone and demo.env["PHONE"] == phone[1]


# --- TOML snippets ---


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def toml_text(table: dict[str, Any]) -> str:
    """A TOML writer for the config's shapes (tables of scalars, lists and subtables)."""
    lines: list[str] = []

    def emit(prefix: str, node: dict[str, Any]) -> None:
        scalars = {k: v for k, v in node.items() if not isinstance(v, dict)}
        if prefix and scalars:
            lines.append(f"[{prefix}]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in scalars.items())
        for key, value in node.items():
            if isinstance(value, dict):
                emit(f"{prefix}.{key}" if prefix else key, value)

    emit("", table)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("block", TOML, ids=[b.id for b in TOML])
def test_toml_snippet_loads(block: Block, tmp_path: Path) -> None:
    """Every snippet says what it is: a complete config, part of one, or a policy file."""
    assert block.marker and block.marker[0] == "toml", (
        f"{block.id}: precede it with <!-- toml: config | config-partial | policy -->"
    )
    kind = block.marker[1]
    snippet = tomllib.loads(block.text)
    config = tmp_path / "switchboard.toml"
    if kind == "config":
        config.write_text(block.text)
    elif kind == "config-partial":
        base = tomllib.loads((ROOT / "switchboard.example.toml").read_text())
        if "trusted_documents" in snippet:  # the example's path is the deployment's
            snippet["trusted_documents"]["manifest"] = str(ROOT / "docs/trusted-documents.json")
        config.write_text(toml_text(merged(base, snippet)))
    elif kind == "policy":
        Policy.from_mapping(snippet, source=block.id)
        return
    else:
        pytest.fail(f"{block.id}: unknown snippet kind {kind!r}")
    load_config(config, env={})  # unknown keys, wrong types, missing keys: ConfigError
