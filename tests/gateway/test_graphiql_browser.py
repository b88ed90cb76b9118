"""GraphiQL in a real headless Chromium: local assets only, strict CSP, token via headers.

The page under test here is a tiny Starlette app wired as the gateway is, echoing the token it
got over HTTP and over graphql-transport-ws (the gateway has no subscriptions yet);
tests/integration/test_graphiql_gateway.py runs the page against the real gateway.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import strawberry
from playwright.sync_api import (
    expect,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, WebSocketRoute
from starlette.routing import Route as HttpRoute
from strawberry.asgi import GraphQL

from gateway.http.graphiql import csp_header, graphiql_assets_app, render_graphiql_html
from sources.sandbox import background_server

from ..browser import (
    Chromium,
    chromium_session,
    graphiql_page,
    headers_editor,
    query_editor,
    run_query,
)

pytestmark = pytest.mark.browser

TOKEN = "Bearer test-token"
QUERY = "query { hello }"
QUERY_ANSWER = f"Authorization seen: {TOKEN}"
SUBSCRIPTION = "subscription { token }"
SUBSCRIPTION_ANSWER = f"connection_init saw: {TOKEN}"


# --- fixture app: a stand-in for the gateway that echoes the token it was given ---


@strawberry.type
class Query:
    @strawberry.field
    def hello(self, info: strawberry.Info) -> str:
        request: Request = info.context["request"]
        return f"Authorization seen: {request.headers.get('authorization', '<none>')}"


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def token(self, info: strawberry.Info) -> AsyncGenerator[str, None]:
        params: dict[str, Any] = info.context.get("connection_params") or {}
        yield f"connection_init saw: {params.get('Authorization', '<none>')}"


class _GraphQLWithLocalIDE(GraphQL[Any, Any]):
    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(
            render_graphiql_html(), headers={"Content-Security-Policy": csp_header()}
        )


def _fixture_app() -> Starlette:
    gql = _GraphQLWithLocalIDE(strawberry.Schema(query=Query, subscription=Subscription))
    return Starlette(
        routes=[
            HttpRoute("/graphql", gql),
            WebSocketRoute("/graphql", gql),
            Mount("/_graphiql", app=graphiql_assets_app()),
        ]
    )


@pytest.fixture(scope="module")
def graphiql_url() -> Iterator[str]:
    with background_server(_fixture_app(), lifespan="off", websockets=True) as origin:
        yield f"{origin}/graphql"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    with chromium_session() as launcher:
        yield launcher


# --- tests ---


def test_graphiql_query_sends_token_from_header_editor(
    chromium: Chromium, graphiql_url: str
) -> None:
    with graphiql_page(chromium, graphiql_url) as (page, seen):
        expect(query_editor(page)).to_be_visible()
        # The header editor is open without a click and holds the placeholder token.
        expect(page.get_by_role("button", name="Headers", exact=True)).to_have_class(
            re.compile(r"\bactive\b")
        )
        expect(headers_editor(page)).to_contain_text("Bearer <paste a token>")

        expect(run_query(page, QUERY, {"Authorization": TOKEN})).to_contain_text(QUERY_ANSWER)

        # GraphiQL persists the header editor (debounced) under graphiql:headers.
        page.wait_for_function(
            "token => (localStorage.getItem('graphiql:headers') || '').includes(token)",
            arg=TOKEN,
        )
        page.reload()
        expect(headers_editor(page)).to_contain_text(TOKEN)

    assets = [u for u in seen.requests if "/_graphiql/" in u]
    assert any(u.endswith("/graphiql-3.8.3.min.js") for u in assets), seen.requests
    versioned = [u for u in seen.cache_control if u.endswith("-3.8.3.min.js")]
    assert versioned and all("immutable" in seen.cache_control[u] for u in versioned)


def test_graphiql_subscription_sends_token_in_connection_init(
    chromium: Chromium, graphiql_url: str
) -> None:
    with graphiql_page(chromium, graphiql_url) as (page, seen):
        expect(run_query(page, SUBSCRIPTION, {"Authorization": TOKEN})).to_contain_text(
            SUBSCRIPTION_ANSWER
        )
    assert len(seen.websockets) == 1
    assert urlsplit(seen.websockets[0]).path == urlsplit(graphiql_url).path
