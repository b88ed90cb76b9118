"""Killing and restarting the gateway (issue #17): the page shows the reconnecting banner while
its stream is down, then resumes from its last cursor and shows the events it missed.

As a bank runs it: two replicas on one Redis. The sandbox posts its webhooks to replica A; the
desktop is open on replica B, which is killed (SIGKILL: a crash) and started again on the same
port. A call placed meanwhile lands in Redis through A, so the events the desktop missed are
there to replay when it comes back (the in-process broker would have lost them with B)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.support.desktop import GatewayProcess, Sandbox

from .conftest import Desk

pytestmark = pytest.mark.browser

REFUSED = re.compile(r"net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|EMPTY_RESPONSE|INCOMPLETE)")
"""Chromium's own console lines for requests to a gateway that is down: expected here."""


@pytest.fixture
def replica_a(desk: Desk) -> Iterator[GatewayProcess]:
    """Replica A takes the sandbox's webhooks for this test; then the page's gateway does again."""
    stack = desk.stack
    stack.sandbox.post_to(stack.replica.url)
    try:
        yield stack.replica
    finally:
        stack.sandbox.post_to(stack.gateway.url)


def _until_delivered(sandbox: Sandbox, count: int) -> None:
    """Until the sandbox has had `count` webhooks accepted in all (a wait, not a timing check:
    accepted means replica A published them to Redis)."""
    poster = sandbox.app.poster
    assert poster is not None
    deadline = time.monotonic() + 30
    while poster.delivered < count:
        assert time.monotonic() < deadline, f"{poster.delivered} of {count} webhooks accepted"
        time.sleep(0.05)


def test_a_gateway_restart_shows_the_banner_then_the_missed_events(
    desk: Desk, replica_a: GatewayProcess
) -> None:
    sandbox, gateway = desk.stack.sandbox, desk.stack.gateway
    poster = sandbox.app.poster
    assert poster is not None
    customers = sandbox.sample(40)[30:]
    desk.sign_in_by_fragment()
    start = poster.delivered
    # a first call, seen to its end: the page now holds a cursor
    seen = sandbox.call(customers[0]["id"], desk.agent)
    expect(desk.card).to_have_attribute("data-contact-id", seen)
    expect(desk.card).to_have_attribute("data-state", "connected")
    sandbox.end(seen)
    expect(desk.card).to_have_attribute("data-state", "ended")
    # INITIATED, CONNECTED_TO_AGENT, CONTACT_DATA_UPDATED, DISCONNECTED, COMPLETED
    _until_delivered(sandbox, start + 5)
    delivered = poster.delivered

    desk.tolerated.append(REFUSED)
    gateway.kill()
    try:
        banner = desk.page.get_by_role("alert").filter(has_text=re.compile(r"^\s*Reconnecting"))
        expect(banner).to_be_visible()
        expect(desk.page.get_by_test_id("connection")).to_have_attribute(
            "data-state", "reconnecting"
        )
        desk.shot("12-gateway-down-reconnecting")
        # a call while the desktop's gateway is down: OFFERED and CONNECTED go into Redis
        missed = sandbox.call(customers[1]["id"], desk.agent)
        _until_delivered(sandbox, delivered + 3)  # INITIATED, CONNECTED_TO_AGENT, DATA_UPDATED
    finally:
        gateway.start()

    connection = desk.page.get_by_test_id("connection")
    expect(connection).to_have_attribute("data-state", "resumed")
    expect(connection).to_contain_text("Reconnected")
    # the two events it missed (OFFERED and CONNECTED of the call placed meanwhile)
    expect(connection).to_contain_text(re.compile(r"\b2\b"))
    expect(desk.card).to_have_attribute("data-contact-id", missed)
    expect(desk.card).to_have_attribute("data-state", "connected")
    states = [h["state"] for h in desk.observed()["history"] if h["contactId"] == missed]
    assert "connected" in states, states
    desk.shot("13-reconnected-missed-events")
    # live again after the replay: the hang-up arrives as it happens
    sandbox.end(missed)
    expect(desk.card).to_have_attribute("data-state", "ended")
