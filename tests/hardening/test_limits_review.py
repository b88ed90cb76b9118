"""The limits after issues #11 and #12, over real sockets against a production gateway (and one
development gateway): introspection for those who may, still bounded; cost through variable
defaults; document size; names through comments; suggestions per profile. Every refusal comes
before any back-end call."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from graphql import get_introspection_query

from gateway.app import create_app
from gateway.config import build_config
from gateway.demo import demo_config
from sources.sandbox.server import background_server

from .conftest import Production

IDS_DEFAULT = "[" + ", ".join(f'"C{i:05d}"' for i in range(1000)) + "]"


async def test_the_standard_introspection_query_runs_for_introspection_roles_only(
    production: Production,
) -> None:
    query = get_introspection_query(descriptions=True, input_value_deprecation=True)
    await production.reset()
    allowed = await production.query(query, role="developer")
    assert "errors" not in allowed, allowed.get("errors")
    assert any(t["name"] == "Customer" for t in allowed["data"]["__schema"]["types"])
    refused = await production.query(query, role="agent")
    assert refused.get("data") is None
    assert all("Customer" not in e["message"] for e in refused["errors"])
    assert await production.backend_calls() == 0


def nested(levels: int, field: str, leaf: str) -> str:
    inner = leaf
    for _ in range(levels):
        inner = f"{field} {{ {inner} }}"
    return inner


def journeys(levels: int) -> str:
    inner = "id"
    for _ in range(levels):
        inner = f"customer {{ journey {{ lastContact {{ {inner} }} }} }}"
    return inner


BOUNDED = {
    "INTROSPECTION_DEPTH_LIMIT": '{ __type(name: "Customer") { '
    + nested(100, "ofType", "name")
    + " } }",
    # an alias that looks like introspection does not lift the depth limit of data fields
    "DEPTH_LIMIT": '{ __schema: interaction(id: "x") { ' + journeys(12) + " } }",
}


@pytest.mark.parametrize("code", list(BOUNDED))
async def test_introspection_stays_bounded_for_those_who_may_introspect(
    production: Production, code: str
) -> None:
    await production.reset()
    body = await production.query(BOUNDED[code], role="developer")
    assert body.get("data") is None, body
    assert code in {e["extensions"]["code"] for e in body["errors"]}, body["errors"]
    assert await production.backend_calls() == 0


COSTLY = {
    "COST_LIMIT": f"""query($ids: [ID!]! = {IDS_DEFAULT}, $n: Int = 100) {{
        customers(ids: $ids) {{ accounts {{ transactions(first: $n) {{ amount }} }} }} }}""",
    "LIST_LIMIT": """query($id: ID!, $n: Int = 1000) {
        customer(id: $id) { accounts { transactions(first: $n) { amount } } } }""",
}


@pytest.mark.parametrize("code", list(COSTLY))
async def test_variable_defaults_are_costed_and_capped(production: Production, code: str) -> None:
    variables = {"id": production.sample[0]["id"]} if code == "LIST_LIMIT" else {}
    await production.reset()
    body = await production.query(COSTLY[code], variables, role="supervisor")
    assert body.get("data") is None, body
    assert code in {e["extensions"]["code"] for e in body["errors"]}, body["errors"]
    assert await production.backend_calls() == 0


async def test_documents_are_capped_apart_from_bodies(production: Production) -> None:
    await production.reset()
    text = "#" + "x" * 100_000 + "\n{ __typename }"  # well under the 256 KB body limit
    body = await production.query(text)
    assert body["errors"][0]["extensions"]["code"] == "DOCUMENT_TOO_LARGE"
    assert await production.backend_calls() == 0


@pytest.mark.parametrize(
    "probe",
    [
        "# Customer ID!\n{ customer }",
        '# fullName\n{ customer(id: "1") { fulName } }',
        "# CaseFilter OPEN\n{ __typename(x: 1) }",
    ],
)
async def test_names_in_comments_are_not_names_the_caller_wrote(
    production: Production, probe: str
) -> None:
    body = await production.query(probe, role="agent")
    assert body["errors"]
    for error in body["errors"]:
        for name in ("Customer", "ID!", "fullName", "CaseFilter"):
            assert name not in error["message"], error["message"]


@pytest.fixture(scope="module")
def development(production: Production) -> Iterator[str]:
    raw = demo_config(0, int(production.sandbox.rsplit(":", 1)[1]))
    raw["rate_limit"] = {"enabled": False}
    with background_server(create_app(build_config(raw, env={})), lifespan="on") as url:
        yield url


async def test_development_suggests_names_and_production_does_not(
    production: Production, development: str
) -> None:
    typo = {"query": '{ customer(id: "1") { fulName } }'}
    headers = {"authorization": f"Bearer {production.tokens['agent']}"}
    async with httpx.AsyncClient(base_url=development, timeout=30) as http:
        dev = (await http.post("/graphql", json=typo, headers=headers)).json()
    assert "Did you mean 'fullName'?" in dev["errors"][0]["message"]
    for role in ("agent", "developer"):
        prod = await production.query(typo["query"], role=role)
        assert "Did you mean" not in prod["errors"][0]["message"]
