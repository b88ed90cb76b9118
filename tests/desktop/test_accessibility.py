"""Accessibility of the desktop (issue #17): axe-core (vendored in tests/desktop/vendor/, see its
MANIFEST) finds no serious or critical violation in the page's states (labels, names, roles,
contrast AA...), and the keyboard alone signs in, reaches the card's controls and the wrap-up
form, and submits it with Enter, with a visible focus on every stop."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .conftest import Desk

pytestmark = pytest.mark.browser

VENDOR = Path(__file__).parent / "vendor"
SERIOUS = {"serious", "critical"}


def _axe_source() -> str:
    """axe.min.js, checked against the MANIFEST it was vendored with."""
    manifest = (VENDOR / "MANIFEST").read_text(encoding="utf-8")
    expected = re.search(r"axe\.min\.js sha256 ([0-9a-f]{64})", manifest)
    assert expected is not None, "MANIFEST names no sha256 for axe.min.js"
    source = (VENDOR / "axe.min.js").read_bytes()
    assert hashlib.sha256(source).hexdigest() == expected.group(1), "axe.min.js was changed"
    return source.decode("utf-8")


def _violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(content=_axe_source())
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
             const result = await axe.run(document, { resultTypes: ["violations"] });
             return result.violations.map((v) => ({
               id: v.id, impact: v.impact, help: v.help,
               targets: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
             }));
           }"""
    )
    return [v for v in found if v["impact"] in SERIOUS]


def test_axe_finds_no_serious_violation_signed_out_on_a_call_and_verified(
    axe_desk: Desk,
) -> None:
    desk, sandbox = axe_desk, axe_desk.stack.sandbox
    desk.page.goto(f"{desk.stack.gateway.url}/desktop")
    expect(desk.page.get_by_role("form", name="Sign in")).to_be_visible()
    assert _violations(desk.page) == [], "signed out"

    desk.sign_in_by_fragment()
    customer = sandbox.sample(50)[45]["id"]
    call = sandbox.call(customer, desk.agent, idv="PASSED", idv_after_ms=600_000)
    try:
        desk.popped(call)
        expect(desk.page.get_by_role("form", name="Wrap-up")).to_be_visible()
        assert _violations(desk.page) == [], "on a call, unverified (masked values)"
        sandbox.verify(call)
        expect(desk.card).to_have_attribute("data-state", "verified")
        assert _violations(desk.page) == [], "verified"
    finally:
        sandbox.end(call)
    expect(desk.card).to_have_attribute("data-state", "ended")
    assert _violations(desk.page) == [], "ended"


def _focus_shows(page: Page) -> bool:
    """The focused element is drawn differently: an outline or a box shadow."""
    shown: bool = page.evaluate(
        """() => {
             const el = document.activeElement, style = getComputedStyle(el);
             return (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0)
               || style.boxShadow !== "none";
           }"""
    )
    return shown


def _tab_until(page: Page, selector: str, *, limit: int = 80) -> list[str]:
    """Press Tab until the focused element matches `selector`; the stops on the way (each
    with a visible focus), the last one the target."""
    stops: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        where: str = page.evaluate(
            """() => {
                 const el = document.activeElement;
                 const card = el.closest('section[aria-label="Screen pop"]') ? "card:" : "";
                 return card + el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
                   + (el.getAttribute("aria-label") ? "[" + el.getAttribute("aria-label") + "]"
                      : "");
               }"""
        )
        stops.append(where)
        assert _focus_shows(page), f"no visible focus on {where}"
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return stops
    raise AssertionError(f"Tab never reached {selector}: {stops}")


def test_the_keyboard_alone_signs_in_reaches_the_card_and_submits_the_wrap_up(
    desk: Desk,
) -> None:
    page, sandbox = desk.page, desk.stack.sandbox
    page.goto(f"{desk.stack.gateway.url}/desktop")
    token_box = page.get_by_label("Token")
    expect(token_box).to_be_visible()
    _tab_until(page, "textarea")
    expect(token_box).to_be_focused()
    page.keyboard.insert_text(sandbox.token(desk.agent))  # pasted
    _tab_until(page, "button")
    expect(page.get_by_role("button", name="Sign in")).to_be_focused()
    page.keyboard.press("Enter")
    desk.until_live()

    customer = sandbox.sample(50)[46]["id"]
    call = sandbox.call(customer, desk.agent)
    try:
        desk.popped(call)
        wrap_up = page.get_by_role("form", name="Wrap-up")
        expect(wrap_up).to_be_visible()
        page.locator("body").focus()
        stops = _tab_until(page, 'form[aria-label="Wrap-up"] select')
        focusable_in_card = desk.card.locator(
            "a[href], button, input, select, textarea, [tabindex]:not([tabindex='-1'])"
        ).count()
        if focusable_in_card:
            assert [s for s in stops if s.startswith("card:")], stops
        disposition = wrap_up.get_by_label("Disposition")
        first = disposition.input_value()
        page.keyboard.press("ArrowDown")
        assert disposition.input_value() != first, "the arrow keys do not change the code"
        page.keyboard.press("Tab")
        expect(wrap_up.get_by_label("Note")).to_be_focused()
        page.keyboard.type("Wrapped up by keyboard.")
        _tab_until(page, "button")
        save = wrap_up.get_by_role("button", name="Save wrap-up")
        expect(save).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("write-status")).to_have_text("APPLIED")
        assert len(sandbox.tasks(call)) == 1
        desk.shot("14-keyboard-wrap-up")
    finally:
        sandbox.end(call)
