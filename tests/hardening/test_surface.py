"""The GraphQL surface of a production gateway (SECURITY.md "GraphQL surface"): introspection,
schema leaks through errors, limits refused before any back-end call, CSRF and CORS."""

from __future__ import annotations

import re
from typing import cast

import httpx
import pytest

from gateway.limits.shape import VALIDATIONS
from schema import build_schema
from sources.sandbox.client import start_contact

from .conftest import ORIGIN, Production

SCHEMA_NAMES = {
    name
    for gql_type in build_schema()._schema.type_map.values()
    if not gql_type.name.startswith("__")
    for name in (gql_type.name, *getattr(gql_type, "fields", {}))
}


async def test_introspection_is_refused_in_production_except_for_allowed_roles(
    production: Production,
) -> None:
    query = "{ __schema { types { name } } }"
    refused = await production.query(query, role="agent")
    assert refused.get("data") is None and "introspection" in refused["errors"][0]["message"]
    typed = await production.query(
        '{ __type(name: "Customer") { fields { name } } }', role="supervisor"
    )
    assert typed.get("data") is None
    allowed = await production.query(query, role="developer")
    assert any(t["name"] == "Customer" for t in allowed["data"]["__schema"]["types"])


async def test_graphiql_is_off_in_production(production: Production) -> None:
    async with httpx.AsyncClient(base_url=production.url) as http:
        page = await http.get("/graphql", headers={"accept": "text/html"})
        assets = await http.get("/_graphiql/boot.js")
    assert page.status_code in (401, 404) and "graphiql" not in page.text.lower()
    assert assets.status_code == 404


PROBES = [
    "{ customr(id: 1) { id } }",  # a field
    '{ customer(id: "1") { fulName } }',  # a field on a type
    '{ customer(customerID: "1") { id } }',  # an argument
    '{ customer(id: "1") { cases(status: OPN) { id } } }',  # an enum value
    "query($s: CaseFiltr) { __typename }",  # a type, via a variable
    "fragment F on Custmer { id } { ...F }",  # a type, via a fragment
    '{ customer(id: "1") { accounts } }',  # an object needing subfields
    "{ customer { id } }",  # a required argument
    'query($f: Int) { customer(id: "1") { cases(status: $f) { id } } }',  # a variable's type
]


@pytest.mark.parametrize("probe", PROBES)
async def test_errors_name_nothing_the_caller_did_not_write(
    production: Production, probe: str
) -> None:
    body = await production.query(probe, role="agent")
    assert body["errors"]
    for error in body["errors"]:
        message = error["message"]
        assert "Did you mean" not in message
        for quoted in re.findall(r"'([^']*)'|\"([^\"]*)\"", message):
            for name in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", "".join(quoted)):
                if name in SCHEMA_NAMES:
                    assert name in probe, f"{name!r} leaked in {message!r}"


async def test_callers_who_may_introspect_get_full_messages(production: Production) -> None:
    body = await production.query('{ customer(id: "1") { fulName } }', role="developer")
    assert "'Customer'" in body["errors"][0]["message"]


def deep(levels: int) -> str:
    inner = "id"
    for _ in range(levels):
        inner = f'interaction(id: "x") {{ customer {{ journey {{ lastContact {{ {inner} }} }} }} }}'
    return "{ " + inner + " }"


LIMITED = {
    "TOKEN_LIMIT": "{ " + " ".join(f"a{i}: __typename" for i in range(1500)) + " }",
    "DEPTH_LIMIT": deep(3),
    "ALIAS_LIMIT": "{ " + " ".join(f"a{i}: __typename" for i in range(40)) + " }",
    "ROOT_FIELD_LIMIT": "{ "
    + " ".join(["__typename"] * 3 + [f'c{i}: customer(id: "1") {{ id }}' for i in range(11)])
    + " }",
    "DIRECTIVE_LIMIT": "{ __typename " + "@skip(if: false) " * 25 + "}",
    "FIELD_REPEAT_LIMIT": '{ customer(id: "1") { ' + "id " * 50 + "} }",
    "LIST_LIMIT": '{ customer(id: "1") { interactions(first: 500) { id } } }',
    "COST_LIMIT": """query($ids: [ID!]!) { customers(ids: $ids) {
        accounts { transactions(first: 100) { id amount description } } } }""",
}


@pytest.mark.parametrize("code", list(LIMITED))
async def test_over_limit_operations_are_refused_before_any_back_end_call(
    production: Production, code: str
) -> None:
    variables = {"ids": [c["id"] for c in production.sample] * 50} if code == "COST_LIMIT" else {}
    await production.reset()
    body = await production.query(LIMITED[code], variables, role="supervisor")
    assert body.get("data") is None, body
    codes = {e.get("extensions", {}).get("code") for e in body["errors"]}
    expected = "GRAPHQL_PARSE_FAILED" if code == "TOKEN_LIMIT" else code
    assert expected in codes, body["errors"]
    assert await production.backend_calls() == 0


async def test_validation_is_cached_across_requests(production: Production) -> None:
    query = "query Cached($id: ID!) { customer(id: $id) { id segment } }"
    await production.query(query, {"id": production.sample[0]["id"]})
    before = (VALIDATIONS.hits, VALIDATIONS.misses)
    await production.query(query, {"id": production.sample[1]["id"]})
    after = (VALIDATIONS.hits, VALIDATIONS.misses)
    assert after == (before[0] + 1, before[1])


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", '{"query": "{ __typename }"}'),
        ("application/x-www-form-urlencoded", "query=%7B__typename%7D"),
        ("multipart/form-data; boundary=x", "--x--"),
        ("application/graphql", "{ __typename }"),
    ],
)
async def test_only_json_posts_are_accepted(
    production: Production, content_type: str, body: str
) -> None:
    async with httpx.AsyncClient(base_url=production.url) as http:
        response = await http.post(
            "/graphql",
            content=body,
            headers={
                "authorization": f"Bearer {production.tokens['agent']}",
                "content-type": content_type,
            },
        )
    assert response.status_code == 415
    assert response.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_no_operation_runs_over_get(production: Production) -> None:
    async with httpx.AsyncClient(base_url=production.url) as http:
        response = await http.get(
            "/graphql",
            params={"query": "{ __typename }"},
            headers={"authorization": f"Bearer {production.tokens['agent']}"},
        )
    assert response.status_code >= 400 and "__typename" not in response.text.replace("%7B", "")


async def test_json_array_batches_are_refused(production: Production) -> None:
    response = await production.post([{"query": "{ __typename }"}] * 2)
    assert response.status_code == 400


async def test_cors_allows_only_listed_origins(production: Production) -> None:
    async with httpx.AsyncClient(base_url=production.url) as http:
        preflight = {
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        }
        allowed = await http.options("/graphql", headers={"origin": ORIGIN, **preflight})
        other = await http.options(
            "/graphql", headers={"origin": "https://evil.example", **preflight}
        )
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "access-control-allow-origin" not in other.headers


async def test_oversized_bodies_are_refused(production: Production) -> None:
    response = await production.post(
        {"query": "{ __typename }", "variables": {"pad": "x" * 400_000}}
    )
    assert response.status_code == 413


async def test_a_websocket_needs_an_allowed_origin_and_a_token(production: Production) -> None:
    """Subscriptions (README "Events out"): a cross-site handshake is refused before it is
    accepted; an allowed origin's socket without a token in `connection_init` closes 4403."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.typing import Origin, Subprotocol

    url = production.url.replace("http://", "ws://") + "/graphql"
    protocols = [cast(Subprotocol, "graphql-transport-ws")]
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            url, origin=cast(Origin, "https://evil.example"), subprotocols=protocols
        ):
            pass
    assert refused.value.response.status_code == 403
    async with connect(url, origin=cast(Origin, ORIGIN), subprotocols=protocols) as ws:
        await ws.send('{"type": "connection_init", "payload": {}}')
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_a_refused_operation_does_not_even_confirm_the_callers_interaction(
    production: Production,
) -> None:
    raw = production.sample[2]
    call = await start_contact(production.sandbox, customer_id=raw["id"], agent_id="agent-0001")
    headers = {"x-interaction-id": call}
    await production.reset()
    refused = await production.post({"query": LIMITED["DEPTH_LIMIT"]}, headers=headers)
    assert refused.json()["errors"][0]["extensions"]["code"] == "DEPTH_LIMIT"
    assert await production.backend_calls() == 0
    shown = await production.post(
        {"query": "query($id: ID!) { customer(id: $id) { ssn } }", "variables": {"id": raw["id"]}},
        headers=headers,
    )
    assert shown.json()["data"]["customer"]["ssn"] == "***-**-" + raw["ssn"][-4:]  # verified
