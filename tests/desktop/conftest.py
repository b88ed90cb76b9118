"""The agent desktop (/desktop) in Debian's Chromium against real systems over real sockets:
one sandbox, redis-server and gateway process for the whole folder (tests/support/desktop.py),
one browser, a fresh browser context per page. Each test uses its own agent, so no test sees
another's calls.

Screenshots of each state go to build/desktop-screenshots/ (git-ignored), with figures.json:
what the tests measured (webhook -> card on screen), reported, asserted only when
DESKTEST_POP_BUDGET_MS asks for it (POP_BUDGET)."""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Locator, Page, Route, expect

from tests.browser import TIMEOUT_MS, Chromium, chromium_session, same_origin
from tests.support.desktop import DemoProcess, DesktopStack, desktop_stack
from tests.support.processes import ROOT

pytestmark = pytest.mark.browser
expect.set_options(timeout=TIMEOUT_MS)

SHOTS = ROOT / "build" / "desktop-screenshots"
README_SHOT = SHOTS / "desktop-verified.png"
"""Copied by hand to docs/img/desktop-verified.png (committed, for the README) when the page's
look changes; the tests never write into docs/."""
OBSERVE = (Path(__file__).parent / "observe.js").read_text(encoding="utf-8")
_agents = itertools.count(1)
POP_BUDGET = "DESKTEST_POP_BUDGET_MS"
"""Set (e.g. 1000, the issue's "within 1 s") on a quiet machine to hold every webhook -> card
figure to it. Unset (the suite's default) the figures are measured and reported, never asserted:
on a loaded 2-core machine they measure the load, not the gateway."""


@pytest.fixture(scope="session")
def systems(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[DesktopStack, DemoProcess]]:
    """The stack and `switchboard demo`, started side by side (imports are most of a start,
    and they run on both cores at once)."""
    folder = tmp_path_factory.mktemp("desktop")
    demo = DemoProcess(folder / "demo.log")
    try:
        demo.launch()
        with desktop_stack(folder) as running:
            demo.ready()
            yield running, demo
    finally:
        demo.stop()


@pytest.fixture(scope="session")
def stack(systems: tuple[DesktopStack, DemoProcess]) -> DesktopStack:
    return systems[0]


@pytest.fixture(scope="session")
def demo(systems: tuple[DesktopStack, DemoProcess]) -> DemoProcess:
    return systems[1]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    with chromium_session() as launcher:
        yield launcher


@pytest.fixture(scope="session")
def figures() -> Iterator[dict[str, Any]]:
    """What the tests measured, written to build/desktop-screenshots/figures.json at the end."""
    measured: dict[str, Any] = {}
    yield measured
    if measured:
        SHOTS.mkdir(parents=True, exist_ok=True)
        (SHOTS / "figures.json").write_text(json.dumps(measured, indent=2) + "\n")


@pytest.fixture
def agent() -> str:
    """A fresh agent per test."""
    return f"desktest-{next(_agents):03d}"


@dataclass
class Desk:
    """One signed-in (or not yet signed-in) desktop page, and what it did."""

    page: Page
    stack: DesktopStack
    agent: str
    origin: str
    """The gateway the page is served by (the stack's, or another that serves /desktop)."""
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    tolerated: list[re.Pattern[str]] = field(default_factory=list)
    """Console errors a test expects (e.g. refused connections while the gateway is down)."""
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def card(self) -> Locator:
        return self.page.locator('section[aria-label="Screen pop"]')

    @property
    def connection(self) -> Locator:
        return self.page.locator('[role="status"][data-testid="connection"]')

    def field(self, name: str) -> Locator:
        return self.card.locator(f'[data-field="{name}"]')

    def sign_in_by_fragment(self) -> None:
        """`/desktop#token=...`: how a deployment hands the page its own token."""
        token = self.stack.sandbox.token(self.agent)
        self.page.goto("about:blank")  # a fresh load, not a fragment change of an open page
        self.page.goto(f"{self.origin}/desktop#token={token}")
        self.until_live()
        assert token not in self.page.url, "the token stays in the address bar"

    def until_live(self) -> None:
        expect(self.page.get_by_test_id("signed-in")).to_contain_text(self.agent)
        expect(self.connection).to_have_attribute("data-state", re.compile("live|resumed"))

    def popped(self, call: str, state: str = "connected") -> None:
        """Until the card shows `call` in `state`; the time from the sandbox's webhook to the
        first frame painted with the card goes to figures.json (measured, never asserted, but
        with DESKTEST_POP_BUDGET_MS set: see POP_BUDGET)."""
        expect(self.card).to_have_attribute("data-contact-id", call)
        expect(self.card).to_have_attribute("data-state", state)
        expect(self.card).to_be_visible()
        self.page.wait_for_function(f"() => (window.__desktest.shown[{call!r}] || 0) > 0")
        posted = self.stack.sandbox.posted.get((call, "INITIATED"))
        if posted is None:  # not a call of this stack's sandbox (the demo's)
            return
        figure = round(self.observed()["shown"][call] - posted * 1000)
        self.figures.setdefault("webhook_to_card_ms", []).append(figure)
        budget = os.environ.get(POP_BUDGET)
        if budget:  # opt-in, for a quiet machine
            assert figure <= int(budget), f"card on screen {figure} ms after the webhook"

    def shot(self, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def observed(self) -> dict[str, Any]:
        seen: dict[str, Any] = self.page.evaluate("() => window.__desktest")
        return seen


@contextmanager
def open_desk(
    chromium: Chromium,
    stack: DesktopStack,
    agent: str,
    figures: dict[str, Any],
    *,
    origin: str | None = None,
    bypass_csp: bool = False,
) -> Iterator[Desk]:
    """A fresh browser context and page for `origin` (default: the stack's gateway)."""
    origin = origin or stack.gateway.url
    context = chromium.browser().new_context(bypass_csp=bypass_csp)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.add_init_script(OBSERVE)
    opened = Desk(page, stack, agent, origin, figures=figures)

    def guard(route: Route) -> None:
        if same_origin(route.request.url, origin):
            route.continue_()
        else:
            opened.blocked.append(route.request.url)
            route.abort("blockedbyclient")

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            opened.errors.append(f"{message.text} ({message.location.get('url', '')})")

    page.route("**/*", guard)
    page.on("request", lambda r: opened.requests.append(r.url))
    page.on("console", console)
    page.on("pageerror", lambda exc: opened.errors.append(f"page error: {exc}"))
    try:
        yield opened
    finally:
        context.close()
    assert opened.blocked == [], f"the page tried to leave {origin}: {opened.blocked}"
    assert [u for u in opened.requests if not same_origin(u, origin)] == []
    unexpected = [e for e in opened.errors if not any(t.search(e) for t in opened.tolerated)]
    assert unexpected == [], f"console / page errors: {unexpected}"


@pytest.fixture
def desk(
    chromium: Chromium, stack: DesktopStack, agent: str, figures: dict[str, Any]
) -> Iterator[Desk]:
    """A page on the gateway's origin (not loaded yet): it may reach nothing else, and any
    console or page error it logs fails the test (but those the test tolerates)."""
    with open_desk(chromium, stack, agent, figures) as opened:
        yield opened


@pytest.fixture
def axe_desk(
    chromium: Chromium, stack: DesktopStack, agent: str, figures: dict[str, Any]
) -> Iterator[Desk]:
    """`desk` with the page's CSP bypassed, for one reason only: axe-core is injected as an
    inline script, which the page's CSP (rightly) refuses."""
    with open_desk(chromium, stack, agent, figures, bypass_csp=True) as opened:
        yield opened
