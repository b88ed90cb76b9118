"""The screen-pop feed's refusals and cut-offs, without sockets (gateway/events/screen_pops.py;
the socket-level behaviour is tests/events/test_screen_pops.py)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest
from graphql import GraphQLError

from gateway.auth.authenticator import Principal
from gateway.events.broker import InProcessBroker
from gateway.events.mapping import CloudEvent
from gateway.events.reads import EventReads
from gateway.events.screen_pops import SocketContext, primed, screen_pops
from gateway.masking.guard import Guard
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from gateway.observability.audit import AuditLog
from gateway.observability.telemetry import UNWATCHED
from sources import Sources
from sources.records import Contact, Customer
from tests.support.feeds import feed_context


def _principal(
    *, workforce: bool = True, role: str = "agent", agent: str = "agent-0001"
) -> Principal:
    return Principal(agent, frozenset({role}), "https://idp", time.time() + 3600, workforce)


def _context(broker: InProcessBroker) -> SocketContext:
    # no sources and no audit: none of these paths may read a back end or audit anything
    guard = SimpleNamespace(policy=Policy.load())
    return cast(
        SocketContext,
        SimpleNamespace(broker=broker, sources=None, guard=guard, reads=None, telemetry=UNWATCHED),
    )


def _event(n: int, kind: str = "payment.posted", agent: str | None = None) -> CloudEvent:
    data = {"agentId": agent} if agent is not None else {}
    return CloudEvent(
        id=f"e-{n}",
        source="switchboard/ccaas",
        type=kind,
        time="2026-12-06T03:00:00Z",
        subject=f"c-{n}",
        data=data,
    )


async def _error(feed: Any) -> dict[str, Any]:
    with pytest.raises(GraphQLError) as raised:
        await anext(feed)
    return dict(raised.value.extensions or {})


def test_a_subscriber_that_falls_behind_gets_the_cursor_to_resume_from() -> None:
    """Only the subscriber's own contact events fill its queue (others are never queued for
    it); when they come faster than it takes them, it gets EVENTS_DROPPED with the cursor of
    the last one it was handed."""

    async def no_contact(ids: list[str]) -> list[Contact]:
        return []  # the CCaaS no longer has it: no pop, nothing else read

    async def scenario() -> tuple[dict[str, Any], str | None, int]:
        broker = InProcessBroker(queue_size=1)
        context = _context(broker)
        ccaas = SimpleNamespace(contacts=no_contact)
        cast(Any, context).reads = EventReads(cast(Sources, SimpleNamespace(ccaas=ccaas)))
        feed = screen_pops(context, _principal(), None)
        waiting = asyncio.ensure_future(_error(feed))
        await asyncio.sleep(0)  # subscribed, waiting for the first event
        # another agent's contact events and events of other kinds: never queued for it
        for n in range(10, 20):
            await broker.publish(_event(n, "interaction.connected", agent="agent-0002"))
            await broker.publish(_event(n + 100))
        first = await broker.publish(_event(1, "interaction.connected", agent="agent-0001"))
        for n in range(2, 5):
            await broker.publish(_event(n, "interaction.connected", agent="agent-0001"))
        extensions = await waiting
        return extensions, first, broker.subscribers

    extensions, first, subscribers = asyncio.run(scenario())
    assert extensions == {"code": "EVENTS_DROPPED", "resumeFrom": first}
    assert subscribers == 0  # the feed's broker subscription is gone with it


def test_a_cursor_this_gateway_never_handed_out_is_refused() -> None:
    feed = screen_pops(_context(InProcessBroker()), _principal(), "nonsense")
    assert asyncio.run(_error(feed)) == {"code": "BAD_USER_INPUT"}


def test_a_partner_issuers_token_gets_no_pops() -> None:
    # a partner IdP may mint an agent's `sub`: only workforce subjects are agents
    feed = screen_pops(_context(InProcessBroker()), _principal(workforce=False), None)
    assert asyncio.run(_error(feed)) == {"code": "FORBIDDEN"}


@pytest.mark.parametrize("role", ["auditor", "developer"])
def test_a_role_that_reads_nothing_real_gets_no_pops(role: str) -> None:
    # no role the policy knows reads nothing; placeholders are filled per query, not per frame
    broker = InProcessBroker()
    feed = screen_pops(_context(broker), _principal(role=role), None)
    assert asyncio.run(asyncio.wait_for(_error(feed), 5)) == {"code": "FORBIDDEN"}
    assert broker.subscribers == 0
    assert primed() == 0


PROFILE = "p" * 32
CUSTOMER = Customer(
    "003SB0000000000001",
    "Ada",
    "Lovelace",
    date(1990, 1, 2),
    None,
    (),
    (),
    None,
    "MASS",
    None,
    "PTY1",
    PROFILE,
    None,
)


class _Sources:
    """The CCaaS contact (QUEUED with the agent, as a routed call is) and its customer, with
    the calls counted."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.ccaas = SimpleNamespace(contacts=self._contacts)
        self.crm = SimpleNamespace(customers=self._customers)

    async def _contacts(self, ids: list[str]) -> list[Contact]:
        self.calls.append("contacts")
        now = datetime.now(UTC)
        return [
            Contact(
                i,
                PROFILE,
                "VOICE",
                "INBOUND",
                now,
                None,
                "QUEUED",
                None,
                "agent-0001",
                None,
                None,
                None,
                "NOT_ATTEMPTED",
                None,
                None,
            )
            for i in ids
        ]

    async def _customers(self, key: str, values: list[str]) -> list[Customer]:
        self.calls.append("customers")
        return [CUSTOMER]


def test_a_pops_context_is_read_once_and_dropped_when_the_stream_is_closed() -> None:
    audit: list[bytes] = []
    sources = _Sources()
    guard = Guard(Policy.load(), Masker(b"k"), AuditLog(audit.append))

    async def scenario() -> list[tuple[str, list[str], int, int]]:
        broker = InProcessBroker()
        context = feed_context(broker, sources, guard)
        pops = screen_pops(context, _principal(), None)
        seen = []
        waiting = asyncio.ensure_future(anext(pops))
        await asyncio.sleep(0.01)  # subscribed
        await broker.publish(_event(1, "interaction.offered"))
        connected = _event(1, "interaction.connected", agent="agent-0001")
        await broker.publish(replace(connected, id="e-1-connected"))
        pop = await waiting
        seen.append((pop.event, list(sources.calls), broker.subscribers, primed()))
        pop = await anext(pops)
        seen.append((pop.event, list(sources.calls), broker.subscribers, primed()))
        await pops.aclose()  # the consumer is done (strawberry closes a completed stream)
        seen.append(("closed", list(sources.calls), broker.subscribers, primed()))
        await guard.aclose()
        return seen

    assert asyncio.run(scenario()) == [
        ("OFFERED", ["contacts", "customers"], 1, 0),  # kept once its frame is built
        ("CONNECTED", ["contacts", "customers"], 1, 1),
        ("closed", ["contacts", "customers"], 0, 0),
    ]


def test_an_offered_contact_is_read_once_per_replica_whatever_the_number_of_agents() -> None:
    """An offered contact names no agent: one CCaaS read per event finds whose it is (with a
    thousand desktops, a read each overflowed the CCaaS bulkhead and lost the owner's pop);
    only its agent pops, and reads its customer (no other feed is even woken for it:
    tests/events/test_routed_pops.py)."""
    audit: list[bytes] = []
    sources = _Sources()
    guard = Guard(Policy.load(), Masker(b"k"), AuditLog(audit.append))

    async def scenario() -> tuple[list[str], list[str], int]:
        broker = InProcessBroker()
        context = feed_context(broker, sources, guard)
        agents = [f"agent-{n:04d}" for n in range(1, 21)]
        feeds = [screen_pops(context, _principal(agent=a), None) for a in agents]
        owner = asyncio.ensure_future(anext(feeds[0]))
        others = [asyncio.ensure_future(anext(f)) for f in feeds[1:]]
        await asyncio.sleep(0.01)  # subscribed
        await broker.publish(_event(1, "interaction.offered"))
        pop = await owner
        await asyncio.sleep(0.05)  # the others have looked at the event too
        popped_elsewhere = sum(t.done() for t in others)
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        for feed in feeds:
            await feed.aclose()
        await guard.aclose()
        return [pop.event], list(sources.calls), popped_elsewhere

    events, calls, popped_elsewhere = asyncio.run(scenario())
    assert events == ["OFFERED"]
    assert calls == ["contacts", "customers"]
    assert popped_elsewhere == 0
