"""The screen-pop card (issue #17): a simulated call pops its card with the context already
there; the unverified agent sees masked values, which unmask in place once the caller passes
ID&V; core banking down shows the fallback procedure and the rest of the card."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from sources.sandbox.calls import MAX_DELAY_MS
from tests.support.desktop import DesktopStack

from .conftest import README_SHOT, Desk

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def customers(stack: DesktopStack) -> list[dict[str, Any]]:
    return stack.sandbox.sample(12)


def _full_name(desk: Desk, crm_id: str) -> str:
    record = desk.stack.sandbox.customer(crm_id)
    return f"{record['FirstName']} {record['LastName']}"


@pytest.fixture
def hang_up(desk: Desk) -> Iterator[list[str]]:
    """Calls a test leaves ringing or connected are ended afterwards, whatever happened."""
    calls: list[str] = []
    yield calls
    for call in calls:
        with contextlib.suppress(httpx.HTTPStatusError):  # already ended by the test
            desk.stack.sandbox.end(call)


def test_a_ringing_call_pops_its_card_with_the_context_already_there(
    desk: Desk, customers: list[dict[str, Any]], hang_up: list[str]
) -> None:
    desk.sign_in_by_fragment()
    expect(desk.card).to_have_attribute("data-state", "idle")
    desk.shot("01-signed-in-idle")
    customer = customers[0]["id"]
    call = desk.stack.sandbox.call(customer, desk.agent, ring_ms=MAX_DELAY_MS)
    hang_up.append(call)
    desk.popped(call, "ringing")
    # the context is there while it rings: who is calling, and the sections of the card
    expect(desk.card).to_contain_text(_full_name(desk, customer))
    for section in ("Journey", "Open items", "Accounts", "Cards", "Cases", "Suggested articles"):
        expect(desk.page.get_by_role("region", name=section)).to_have_count(1)
    desk.shot("02-ringing")
    desk.stack.sandbox.end(call)
    expect(desk.card).to_have_attribute("data-state", "ended")
    desk.shot("03-ended-while-ringing")


def test_the_unverified_agent_sees_masked_values_and_why(
    desk: Desk, customers: list[dict[str, Any]], hang_up: list[str]
) -> None:
    desk.sign_in_by_fragment()
    raw = customers[1]
    call = desk.stack.sandbox.call(raw["id"], desk.agent, idv="NOT_ATTEMPTED")
    hang_up.append(call)
    desk.popped(call)
    for name in ("dateOfBirth", "accounts.balance"):
        expect(desk.field(name).first).to_have_attribute("data-masked", "true")
    # the reason a value stays masked is shown (extensions.unlock: verify the caller)
    expect(desk.card.locator("[data-mask-reason]").first).to_be_visible()
    text = desk.card.inner_text()
    assert raw["dateOfBirth"] not in text
    assert not [b for b in raw["balances"] if b in text]
    desk.shot("04-connected-unverified-masked")


def test_the_verified_view_unmasks_the_same_elements_after_id_and_v(
    desk: Desk, customers: list[dict[str, Any]], hang_up: list[str]
) -> None:
    desk.sign_in_by_fragment()
    raw = customers[2]
    call = desk.stack.sandbox.call(raw["id"], desk.agent, idv="PASSED", idv_after_ms=MAX_DELAY_MS)
    hang_up.append(call)
    desk.popped(call)
    dob = desk.field("dateOfBirth").first
    expect(dob).to_have_attribute("data-masked", "true")
    masked = desk.card.locator('[data-field][data-masked="true"]')
    before = masked.count()
    assert before >= 2

    desk.stack.sandbox.verify(call)  # the caller passes ID&V now
    expect(desk.card).to_have_attribute("data-state", "verified")
    expect(dob).to_have_attribute("data-masked", "false")
    expect(desk.field("accounts.balance").first).to_have_attribute("data-masked", "false")
    # in place: the very elements seen masked now show the values (an expando set by
    # observe.js on each element seen masked survives only on the same DOM node)
    unmasked_in_place = desk.page.evaluate(
        """(id) => [...document.querySelectorAll('[data-field][data-masked="false"]')]
             .filter((el) => el.__desktestMasked === id)
             .map((el) => el.getAttribute('data-field'))""",
        call,
    )
    assert {"dateOfBirth", "accounts.balance"} <= set(unmasked_in_place), unmasked_in_place
    text = desk.card.inner_text()
    year = raw["dateOfBirth"].split("-")[0]
    assert year in dob.inner_text(), (raw["dateOfBirth"], dob.inner_text())
    assert any(b in text or f"{float(b):,.2f}" in text for b in raw["balances"]), text
    states = [h["state"] for h in desk.observed()["history"] if h["contactId"] == call]
    assert states.index("connected") < states.index("verified")
    desk.shot("05-verified")
    # the README's picture (docs/img/desktop-verified.png is a copy of it): the card alone
    desk.page.set_viewport_size({"width": 960, "height": 720})
    desk.card.screenshot(path=str(README_SHOT))


def test_core_banking_down_shows_the_fallback_and_the_rest_of_the_card(
    desk: Desk, customers: list[dict[str, Any]], hang_up: list[str]
) -> None:
    desk.sign_in_by_fragment()
    raw = customers[3]
    sandbox = desk.stack.sandbox
    # a case opened just now: the CRM's part of the journey is among the newest events shown
    opened = httpx.patch(
        f"{sandbox.url}/crm/sobjects/Case/ExternalId__c/desk-core-down-{uuid.uuid4().hex[:12]}",
        json={
            "ContactId": raw["id"],
            "Subject": "Card not arriving",
            "Type": "Card",
            "Priority": "High",
            "OwnerId": desk.agent,
        },
        timeout=30,
    )
    assert opened.status_code == 201, opened.text
    sandbox.fault("core", "down")
    try:
        call = sandbox.call(raw["id"], desk.agent, idv="NOT_ATTEMPTED")
        hang_up.append(call)
        desk.popped(call)
        core = desk.page.locator('[data-source="core"]')
        expect(core).to_have_attribute("data-status", "unavailable")
        fallback = desk.page.get_by_role("status").filter(
            has_text="core banking unavailable — use the fallback procedure"
        )
        expect(fallback).to_be_visible()
        # the rest of the card: the other systems' part (the CRM's customer and cases, the
        # knowledge base's articles), and the journey of the systems that answered: the
        # contact platform's and the CRM's events, core banking named as missing, no stage
        # guessed without core risk
        expect(desk.card).to_contain_text(_full_name(desk, raw["id"]))
        journey = desk.page.get_by_role("region", name="Journey")
        timeline = journey.get_by_role("listitem")
        expect(timeline.filter(has_text="CCAAS").first).to_be_visible()
        expect(timeline.filter(has_text="CRM").first).to_be_visible()
        expect(timeline.filter(has_text="CORE")).to_have_count(0)
        expect(journey.locator('[data-missing="core"]')).to_have_text(
            "core banking unavailable — use the fallback procedure"
        )
        expect(journey).to_contain_text("Stage: not available")
        for system in ("crm", "ccaas", "knowledge"):
            expect(desk.page.locator(f'[data-source="{system}"]')).to_have_attribute(
                "data-status", "ok"
            )
        for section in ("Journey", "Open items", "Accounts", "Cards", "Cases"):
            expect(desk.page.get_by_role("region", name=section)).to_be_visible()
        articles = desk.page.get_by_role("region", name="Suggested articles")
        expect(articles.get_by_role("link").first).to_be_visible()
        desk.shot("06-core-down-fallback")
    finally:
        sandbox.fault("core", "ok")


def test_a_household_match_is_shown_as_a_choice_that_fills_the_card(
    desk: Desk, hang_up: list[str]
) -> None:
    """A call from a phone the CCaaS links to no profile, shared by a household: the gateway's
    pop lists every customer of that phone (masked, nobody verified) and the agent chooses."""
    sandbox = desk.stack.sandbox
    [household] = sandbox.households(1)
    members: list[str] = household["customers"]
    assert len(members) >= 2
    desk.sign_in_by_fragment()
    call = sandbox.call(
        None, desk.agent, phone=household["phone"], idv="NOT_ATTEMPTED", idv_after_ms=MAX_DELAY_MS
    )
    hang_up.append(call)
    desk.popped(call)
    choice = desk.page.get_by_role("radiogroup", name="Which customer?")
    expect(choice).to_be_visible()
    expect(choice.get_by_role("radio")).to_have_count(len(members))
    desk.shot("07-household-choice")
    other = _full_name(desk, members[1])
    choice.get_by_role("radio", name=re.compile(re.escape(other))).check()
    expect(desk.card).to_contain_text(other)
    # ID&V passed on a call linked to no customer verifies nobody: still masked, and why
    sandbox.verify(call)
    expect(desk.card.locator("[data-mask-reason]").first).to_contain_text("not linked")
    desk.shot("08-household-chosen")
