"""Headless Chromium (Debian's package, driven by playwright's bundled driver) for tests of
pages the gateway serves: every request the page makes must stay on the page's own loopback
origin, and any console or page error fails the test."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from ipaddress import ip_address
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Locator, Page, Playwright, Route, sync_playwright

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


@contextmanager
def chromium_session() -> Iterator[Chromium]:
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


def same_origin(url: str, page_url: str) -> bool:
    target, page = urlsplit(url), urlsplit(page_url)
    return (
        target.scheme in {"http", "ws"}
        and target.hostname == page.hostname
        and target.port == page.port
    )


@contextmanager
def graphiql_page(
    chromium: Chromium, url: str, *, stored_headers: dict[str, str] | None = None
) -> Iterator[tuple[Page, Traffic]]:
    """Open `url`; `stored_headers` are put where GraphiQL keeps the header editor's content
    before the page loads, as if the user had pasted them on an earlier visit."""
    host = urlsplit(url).hostname
    assert host is not None and ip_address(host).is_loopback, f"{url} is not a loopback URL"
    context = chromium.browser().new_context()
    page = context.new_page()
    if stored_headers is not None:
        seeded = json.dumps(json.dumps(stored_headers))
        page.add_init_script(f"localStorage.setItem('graphiql:headers', {seeded})")
    page.set_default_timeout(TIMEOUT_MS)
    seen = Traffic()

    def guard(route: Route) -> None:
        if same_origin(route.request.url, url):
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
    assert [u for u in seen.requests if not same_origin(u, url)] == []
    assert [u for u in seen.websockets if not same_origin(u, url)] == []
    assert seen.errors == [], f"console / page errors: {seen.errors}"


def query_editor(page: Page) -> Locator:
    return page.locator(".graphiql-query-editor .CodeMirror")


def headers_editor(page: Page) -> Locator:
    return page.locator(".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror")


def replace_text(page: Page, editor: Locator, text: str) -> None:
    """Select all in a CodeMirror editor and type `text` over it, as a person would."""
    editor.click()
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.insert_text(text)
    assert editor.evaluate("el => el.CodeMirror.getValue()") == text


def run_query(page: Page, query: str, headers: dict[str, str]) -> Locator:
    """Type `query` and `headers` into the editors, click run; the result pane."""
    replace_text(page, query_editor(page), query)
    replace_text(page, headers_editor(page), json.dumps(headers))
    page.locator(".graphiql-execute-button").click()
    return page.locator(".graphiql-response .result-window")
