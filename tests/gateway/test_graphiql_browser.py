"""GraphiQL in a real headless Chromium: local assets only, strict CSP, token via headers.

The page under test comes from the `graphiql_url` fixture, which serves a tiny
Starlette app wired exactly as the gateway is meant to be (see gateway/graphiql.py).
To run the same checks against the real gateway, make that fixture yield the real
gateway's GraphiQL URL (a loopback address) and adjust QUERY / SUBSCRIPTION and their
expected answers.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import threading
import time
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

import pytest
import strawberry
import uvicorn
from playwright.sync_api import (
    Browser,
    Locator,
    Page,
    Playwright,
    Route,
    expect,
    sync_playwright,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, WebSocketRoute
from starlette.routing import Route as HttpRoute
from strawberry.asgi import GraphQL

from gateway.graphiql import csp_header, graphiql_assets_app, render_graphiql_html

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000

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


@contextmanager
def _serve(app: Starlette) -> Iterator[str]:
    """Run `app` under uvicorn on a free 127.0.0.1 port in a background thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def graphiql_url() -> Iterator[str]:
    """The GraphiQL page under test. Swap the body to point at the real gateway."""
    with _serve(_fixture_app()) as origin:
        yield f"{origin}/graphql"


# --- browser plumbing ---


class Chromium:
    """Launches Debian's Chromium on first use, so a missing one fails the test itself."""

    def __init__(self, playwright: Playwright) -> None:
        self._playwright = playwright
        self._browser: Browser | None = None

    def browser(self) -> Browser:
        if self._browser is None:
            if shutil.which("chromium") is None:
                pytest.fail(
                    "Chromium not found: these browser tests need Debian's chromium at "
                    f"{CHROMIUM} (`apt-get install -y chromium`; CI's bootstrap installs it)",
                    pytrace=False,
                )
            self._browser = self._playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS
            )
        return self._browser

    def close(self) -> None:
        if self._browser is not None:
            self._browser.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    with sync_playwright() as playwright:
        launcher = Chromium(playwright)
        try:
            yield launcher
        finally:
            launcher.close()


@dataclass
class Traffic:
    """Everything the page tried to reach, and everything it complained about."""

    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cache_control: dict[str, str] = field(default_factory=dict)


def _same_loopback_host(url: str, page_url: str) -> bool:
    target, page = urlsplit(url), urlsplit(page_url)
    return (
        target.scheme in {"http", "ws"}
        and target.hostname == page.hostname
        and target.port == page.port
    )


@contextmanager
def _graphiql_page(chromium: Chromium, url: str) -> Iterator[tuple[Page, Traffic]]:
    host = urlsplit(url).hostname
    assert host is not None and ip_address(host).is_loopback, f"{url} is not a loopback URL"
    context = chromium.browser().new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    seen = Traffic()

    def guard(route: Route) -> None:
        if _same_loopback_host(route.request.url, url):
            route.continue_()
        else:
            seen.blocked.append(route.request.url)
            route.abort("blockedbyclient")

    page.route("**/*", guard)
    page.on("request", lambda r: seen.requests.append(r.url))
    page.on("websocket", lambda ws: seen.websockets.append(ws.url))
    page.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: seen.errors.append(f"page error: {exc}"))
    page.on(
        "response",
        lambda r: seen.cache_control.__setitem__(r.url, r.headers.get("cache-control", "")),
    )
    try:
        response = page.goto(url)
        assert response is not None and response.ok, f"GET {url} -> {response}"
        assert "script-src 'self'" in response.headers.get("content-security-policy", "")
        yield page, seen
    finally:
        context.close()
    assert seen.blocked == [], f"page tried to leave {url}: {seen.blocked}"
    assert [u for u in seen.requests if not _same_loopback_host(u, url)] == []
    assert [u for u in seen.websockets if not _same_loopback_host(u, url)] == []
    assert seen.errors == [], f"console / page errors: {seen.errors}"


def _query_editor(page: Page) -> Locator:
    return page.locator(".graphiql-query-editor .CodeMirror")


def _headers_editor(page: Page) -> Locator:
    return page.locator(".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror")


def _replace_text(page: Page, editor: Locator, text: str) -> None:
    """Select all in a CodeMirror editor and type `text` over it, as a person would."""
    editor.click()
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.insert_text(text)
    assert editor.evaluate("el => el.CodeMirror.getValue()") == text


def _run(page: Page, query: str) -> Locator:
    _replace_text(page, _query_editor(page), query)
    _replace_text(page, _headers_editor(page), json.dumps({"Authorization": TOKEN}))
    page.locator(".graphiql-execute-button").click()
    return page.locator(".graphiql-response .result-window")


# --- tests ---


def test_graphiql_query_sends_token_from_header_editor(
    chromium: Chromium, graphiql_url: str
) -> None:
    with _graphiql_page(chromium, graphiql_url) as (page, seen):
        expect(_query_editor(page)).to_be_visible()
        # The header editor is open without a click and holds the placeholder token.
        expect(page.get_by_role("button", name="Headers", exact=True)).to_have_class(
            re.compile(r"\bactive\b")
        )
        expect(_headers_editor(page)).to_contain_text("Bearer <paste a token>")

        expect(_run(page, QUERY)).to_contain_text(QUERY_ANSWER)

        # GraphiQL persists the header editor (debounced) under graphiql:headers.
        page.wait_for_function(
            "token => (localStorage.getItem('graphiql:headers') || '').includes(token)",
            arg=TOKEN,
        )
        page.reload()
        expect(_headers_editor(page)).to_contain_text(TOKEN)

    assets = [u for u in seen.requests if "/_graphiql/" in u]
    assert any(u.endswith("/graphiql-3.8.3.min.js") for u in assets), seen.requests
    versioned = [u for u in seen.cache_control if u.endswith("-3.8.3.min.js")]
    assert versioned and all("immutable" in seen.cache_control[u] for u in versioned)


def test_graphiql_subscription_sends_token_in_connection_init(
    chromium: Chromium, graphiql_url: str
) -> None:
    with _graphiql_page(chromium, graphiql_url) as (page, seen):
        expect(_run(page, SUBSCRIPTION)).to_contain_text(SUBSCRIPTION_ANSWER)
    assert len(seen.websockets) == 1
    assert urlsplit(seen.websockets[0]).path == urlsplit(graphiql_url).path
