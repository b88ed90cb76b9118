"""A caller whose CCaaS profile no CRM customer links (README "Events out"): the pop's
customers are the phone lookup of the contact's ANI, none of them verified by the contact, and
the frame says so (`extensions.verification`: `no_profile`), as for a caller with no profile at
all — never `verified` while every member's values stay masked."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from types import SimpleNamespace

from msgspec.structs import replace

from gateway.auth.authenticator import Principal
from gateway.events.broker import InProcessBroker
from gateway.events.feed import CURRENT
from gateway.events.mapping import CloudEvent
from gateway.events.screen_pops import screen_pops
from gateway.masking.guard import Guard
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from gateway.observability.audit import AuditLog
from schema.sensitive import customer_owner
from sources.records import Contact, Customer
from tests.events.test_screen_pop_feed import CUSTOMER
from tests.support.feeds import feed_context

AGENT = "agent-0001"
UNLINKED = "u" * 32  # a CCaaS profile no CRM customer links
SIBLING = replace(CUSTOMER, id="003SB0000000000002", ccaas_profile_id="s" * 32)


class _Sources:
    """A live, ID&V-passed contact with an unlinked profile, from a household's phone."""

    def __init__(self) -> None:
        self.ccaas = SimpleNamespace(contacts=self._contacts)
        self.crm = SimpleNamespace(customers=self._customers, search_customers=self._search)

    async def _contacts(self, ids: list[str]) -> list[Contact]:
        now = datetime.now(UTC)
        return [
            Contact(
                i,
                UNLINKED,
                "VOICE",
                "INBOUND",
                now,
                None,
                "CONNECTED",
                None,
                AGENT,
                None,
                None,
                None,
                "PASSED",
                "+12025550143",
                None,
            )
            for i in ids
        ]

    async def _customers(self, key: str, values: list[str]) -> list[Customer]:
        return []  # nobody links the profile

    async def _search(
        self, *, phone: str | None = None, email: str | None = None
    ) -> list[Customer]:
        return [CUSTOMER, SIBLING]


def test_an_unlinked_profiles_household_pop_says_nobody_is_verified() -> None:
    guard = Guard(Policy.load(), Masker(b"k"), AuditLog(lambda line: None))
    sources = _Sources()
    principal = Principal(AGENT, frozenset({"agent"}), "https://idp", time.time() + 3600, True)

    async def scenario() -> tuple[list[str], dict[str, str | None] | None, list[bool]]:
        broker = InProcessBroker()
        context = feed_context(broker, sources, guard)
        pops = screen_pops(context, principal, None)
        verified = CloudEvent(
            id="e-1",
            source="switchboard/ccaas",
            type="customer.verified",
            time="2026-12-06T03:00:00Z",
            subject="c-1",
            data={"agentId": AGENT},
        )

        async def publish() -> None:
            await asyncio.sleep(0.01)  # the feed has subscribed
            assert broker.subscribers == 1
            await broker.publish(verified)

        publishing = asyncio.ensure_future(publish())
        pop = await anext(pops)  # in this task: its frame's access is CURRENT here
        await publishing
        event = CURRENT.get()
        assert event is not None
        report = event.access.verification_report()
        covered = [event.access.verification.covers(customer_owner(c)) for c in pop.customers]
        await pops.aclose()
        await guard.aclose()
        return [c.id for c in pop.customers], report, covered

    customers, report, covered = asyncio.run(scenario())
    assert customers == [CUSTOMER.id, SIBLING.id]
    assert covered == [False, False]
    assert report == {"interactionId": "c-1", "status": "not_verified", "reason": "no_profile"}
