"""The HTTP surface: authentication, health, readiness, the GraphiQL page, the SDL."""

from __future__ import annotations

import httpx
import pytest

from gateway.app import create_app
from gateway.config import build_config
from gateway.demo import demo_config
from gateway.http.admin import admin_app_of
from schema import build_schema
from sources import current_scope
from sources.sandbox.client import mint_token

from .conftest import ROOT, Gateway


async def test_no_token_is_401_with_a_bearer_challenge(gateway: Gateway) -> None:
    response = await gateway.post({"query": "{ __typename }"}, token=None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    request_id = response.headers["x-request-id"]
    assert response.json() == {
        "errors": [
            {
                "message": "invalid token",
                "extensions": {"code": "UNAUTHENTICATED", "requestId": request_id},
            }
        ],
        "extensions": {"requestId": request_id},
    }


@pytest.mark.parametrize(
    "claims",
    [
        {"ttl": "-120"},
        {"aud": "another-api"},
        {"iss": "http://127.0.0.1:1/idp"},
        {"nbf": "4102444800"},
    ],
)
async def test_bad_sandbox_tokens_are_401_invalid_token(
    gateway: Gateway, claims: dict[str, str]
) -> None:
    ttl = int(claims.pop("ttl", "600"))
    token = await mint_token(gateway.sandbox, sub="agent-0001", roles=["agent"], ttl=ttl, **claims)
    response = await gateway.post({"query": "{ __typename }"}, token=token)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.json()["errors"][0]["message"] == "invalid token"


async def test_valid_token_answers_with_request_id(gateway: Gateway) -> None:
    response = await gateway.post({"query": "{ __typename }"}, headers={"x-request-id": "desk-42"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "desk-42"
    assert response.json() == {
        "data": {"__typename": "Query"},
        "extensions": {"requestId": "desk-42"},
    }
    odd = await gateway.post(
        {"query": "{ __typename }"}, headers={"x-request-id": "evil id <script>"}
    )
    assert (
        odd.headers["x-request-id"] != "evil id <script>" and len(odd.headers["x-request-id"]) == 32
    )


async def test_health_and_ready(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        assert (await http.get("/health")).json() == {"status": "ok"}
    async with httpx.AsyncClient(base_url=gateway.admin) as http:
        ready = await http.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "crm": "ok",
        "core": "ok",
        "ccaas": "ok",
        "knowledge": "ok",
        "jwks": "ok",
    }


async def test_ready_is_503_when_systems_and_keys_are_unreachable() -> None:
    config = build_config(demo_config(9, 1), env={})  # port 1 on 127.0.0.1: nothing listens
    app = admin_app_of(create_app(config))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gw"
    ) as http:
        response = await http.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["core"] == "unreachable"
    assert response.json()["checks"]["jwks"] == "no keys"


async def test_graphiql_page_is_served_without_a_token_with_a_strict_csp(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        page = await http.get("/graphql", headers={"accept": "text/html"})
        asset = await http.get("/_graphiql/boot.js")
        smuggled = await http.get("/graphql?query={__typename}", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "unpkg" not in page.text and "cdn" not in page.text.lower()
    assert asset.status_code == 200
    assert smuggled.status_code == 401


def test_checked_in_sdl_matches_the_schema() -> None:
    printed = build_schema().as_str() + "\n"
    assert (ROOT / "schema.graphql").read_text() == printed, (
        "run: switchboard schema > schema.graphql"
    )


async def test_health_and_ready_make_no_calls_to_data_systems(gateway: Gateway) -> None:
    await gateway.reset()
    async with httpx.AsyncClient(base_url=gateway.admin) as http:
        for _ in range(3):
            assert (await http.get("/ready")).status_code == 200
            assert (await http.get("/health")).status_code == 200
    assert await gateway.calls() == {}


async def test_the_deadline_scope_is_left_with_the_request(sandbox_url: str) -> None:
    """The request's scope (its deadline, what the systems answered) is entered and left around
    each request: served in the caller's own task (httpx's ASGI transport, an embedding), it must
    not outlive the request."""
    config = build_config(demo_config(9, int(sandbox_url.rsplit(":", 1)[1])), env={})
    app = create_app(config)
    token = await mint_token(sandbox_url, sub="agent-0001", roles=["agent"])
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http,
    ):
        response = await http.post(
            "/graphql",
            json={"query": "{ __typename }"},
            headers={"authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200, response.text
    assert current_scope() is None
