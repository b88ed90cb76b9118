"""The desktop inside `switchboard demo` itself (issue #17: "against the demo"): the role picker
signs in with the tokens the demo's banner prints, and a call placed as the banner says
(`POST /_sandbox/calls`) pops the agent's card. Outside the demo there is no role picker and
`/desktop/demo-tokens.json` is 404 (a deployment passes its own token)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from gateway.demo import DEMO_ROLES
from tests.browser import Chromium
from tests.support.desktop import DemoProcess, DesktopStack

from .conftest import Desk, open_desk

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_desk(chromium: Chromium, stack: DesktopStack, demo: DemoProcess) -> Iterator[Desk]:
    """A page on the demo's origin, for the demo's agent."""
    with open_desk(chromium, stack, DEMO_ROLES[0][1], {}, origin=demo.url) as opened:
        yield opened


def test_the_role_picker_signs_in_with_the_demo_tokens_and_a_call_pops(
    demo_desk: Desk, demo: DemoProcess, figures: dict[str, Any]
) -> None:
    page = demo_desk.page
    tokens = httpx.get(f"{demo.url}/desktop/demo-tokens.json", timeout=10).json()["roles"]
    assert {r["role"] for r in tokens} >= {"agent", "supervisor"}
    page.goto(f"{demo.url}/desktop")
    form = page.get_by_role("form", name="Sign in")
    role = form.get_by_label("Role")
    expect(role).to_be_visible()
    role.select_option(value="agent")
    form.get_by_role("button", name="Sign in").click()
    agent = DEMO_ROLES[0][1]
    expect(page.get_by_test_id("signed-in")).to_contain_text(agent)
    expect(demo_desk.connection).to_have_attribute("data-state", "live")

    # the banner's curl line, from here: the demo's sandbox is on the next port
    sandbox = demo.sandbox
    customer = httpx.get(f"{sandbox}/_sandbox/sample?n=1", timeout=10).json()["customers"][0]
    body = {"customerId": customer["id"], "agentId": agent, "idv": "PASSED", "ringMs": 0}
    answered = httpx.post(f"{sandbox}/_sandbox/calls", json=body, timeout=10)
    posted = time.time()  # the INITIATED webhook was handed to delivery before this answer
    call = answered.json()["interactionId"]
    try:
        expect(demo_desk.card).to_have_attribute("data-contact-id", call)
        expect(demo_desk.card).to_be_visible()
        shown = page.wait_for_function(f"() => window.__desktest.shown[{call!r}] > 0")
        assert shown.json_value() is True
        figure = round(demo_desk.observed()["shown"][call] - posted * 1000)
        figures.setdefault("demo_call_answer_to_card_ms", []).append(figure)
        expect(demo_desk.card).to_have_attribute("data-state", "verified")
        demo_desk.shot("00-demo-role-picker-verified")
    finally:
        httpx.post(f"{sandbox}/_sandbox/calls/{call}/end", timeout=10)


def test_outside_the_demo_there_are_no_demo_tokens_and_the_page_is_under_a_strict_csp(
    desk: Desk,
) -> None:
    gateway = desk.stack.gateway.url
    assert httpx.get(f"{gateway}/desktop/demo-tokens.json", timeout=10).status_code == 404
    response = desk.page.goto(f"{gateway}/desktop")
    assert response is not None and response.ok
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "style-src 'self'" in csp, csp
    assert "connect-src 'self'" in csp and "unsafe-inline" not in csp, csp
    expect(desk.page.get_by_label("Token")).to_be_visible()
    expect(desk.page.get_by_label("Role")).to_be_hidden()
