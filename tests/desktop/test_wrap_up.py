"""The wrap-up form (issue #17): a disposition and a note through the idempotent mutation; a
double click makes one CRM record, counted in the sandbox CRM's own ledger (its Tasks for the
contact); with the CRM down (reads and writes) the write shows PENDING, and APPLIED once the
CRM is back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Locator, expect

from tests.support.desktop import DesktopStack

from .conftest import Desk

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def customers(stack: DesktopStack) -> list[dict[str, Any]]:
    return stack.sandbox.sample(30)[20:]


@pytest.fixture
def on_a_call(desk: Desk, customers: list[dict[str, Any]]) -> Iterator[str]:
    """Signed in, on a connected call (hung up afterwards)."""
    desk.sign_in_by_fragment()
    customer = _customer_of(desk, customers)
    call = desk.stack.sandbox.call(customer, desk.agent)
    try:
        desk.popped(call)
        yield call
    finally:
        desk.stack.sandbox.end(call)


def _customer_of(desk: Desk, customers: list[dict[str, Any]]) -> str:
    """The customer on this test's call."""
    customer: str = customers[len(desk.agent) % len(customers)]["id"]
    return customer


def _fill(desk: Desk, note: str) -> Locator:
    form = desk.page.get_by_role("form", name="Wrap-up")
    expect(form).to_be_visible()
    disposition = form.get_by_label("Disposition")
    codes = [c for c in disposition.locator("option").all_inner_texts() if c.strip()]
    assert codes, "no disposition codes to choose from"
    disposition.select_option(label=codes[-1])
    form.get_by_label("Note").fill(note)
    return form.get_by_role("button", name="Save wrap-up")


def test_a_double_click_on_save_makes_one_crm_record(desk: Desk, on_a_call: str) -> None:
    save = _fill(desk, "Customer asked about a card payment; explained the pending status.")
    save.dblclick()
    status = desk.page.get_by_test_id("write-status")
    expect(status).to_have_text("APPLIED")
    desk.shot("09-wrap-up-applied")
    records = desk.stack.sandbox.tasks(on_a_call)
    assert len(records) == 1, records
    assert records[0]["OwnerId"] == desk.agent
    # and a third click, with the same form content, is the same write again: still one
    expect(save).to_be_enabled()
    save.click()
    expect(status).to_have_text("APPLIED")
    assert len(desk.stack.sandbox.tasks(on_a_call)) == 1


def test_with_the_crm_down_the_wrap_up_is_pending_then_applied_once_it_is_back(
    desk: Desk, on_a_call: str, customers: list[dict[str, Any]]
) -> None:
    """The CRM fully down, its reads as well as its writes: the disposition is still taken
    (PENDING; its Task names the customer by CCaaS profile id, for the CRM to resolve when it
    lands), and APPLIED, once, when the CRM is back."""
    sandbox = desk.stack.sandbox
    save = _fill(desk, "Callback requested; CRM was down when saving.")
    sandbox.fault("crm", "down")
    try:
        save.click()
        status = desk.page.get_by_test_id("write-status")
        expect(status).to_have_text("PENDING")
        desk.shot("10-wrap-up-pending-crm-down")
        # the CRM's reads are down too: its own ledger, in process, shows nothing written
        assert on_a_call not in sandbox.app.writes.tasks
    finally:
        sandbox.fault("crm", "ok")
    expect(status).to_have_text("APPLIED")  # the gateway delivered it; the page followed
    desk.shot("11-wrap-up-applied-after-crm-back")
    [task] = sandbox.tasks(on_a_call)  # the retries while it was down wrote nothing
    assert task["WhoId"] == _customer_of(desk, customers)  # linked to the caller by the CRM
