"""Screen pops of offered contacts, routed (gateway/events/routes.py with the replica's shared
read as router, gateway/events/reads.py), without sockets, on both brokers: with N agents
subscribed, an offered contact wakes its own agent's feed only (feeds woken counted), costs one
CCaaS read, pops on no other agent's desktop, and a desktop that reconnects from its cursor
gets the offered contact it missed once, with no `missed` said for events it was never meant to
see. (The socket-level behaviour: tests/events/test_screen_pops.py, test_replicas.py.)"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
import redis.asyncio as redis

from gateway.auth.authenticator import Principal
from gateway.events import screen_pops as module
from gateway.events.broker import Broker, Delivery, InProcessBroker
from gateway.events.mapping import CloudEvent
from gateway.events.redis_broker import RedisStreamsBroker
from gateway.events.screen_pops import screen_pops
from gateway.masking.guard import Guard
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from gateway.observability.audit import AuditLog
from schema import Pop
from sources.records import Contact, Customer
from tests.events.test_screen_pop_feed import CUSTOMER, PROFILE
from tests.support.feeds import feed_context
from tests.support.redis import redis_server

AGENTS = 20


class _Sources:
    """The CCaaS contact (with the agent it was routed to) and its customer, calls counted."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.agent_of: dict[str, str] = {}
        self.ccaas = SimpleNamespace(contacts=self._contacts)
        self.crm = SimpleNamespace(customers=self._customers)

    async def _contacts(self, ids: list[str]) -> list[Contact]:
        self.calls["contacts"] += 1
        now = datetime.now(UTC)
        return [
            Contact(i, PROFILE, "VOICE", "INBOUND", now, None, "QUEUED", None,
                    self.agent_of[i], None, None, None, "NOT_ATTEMPTED", None, None)
            for i in ids
        ]  # fmt: skip

    async def _customers(self, key: str, values: list[str]) -> list[Customer]:
        self.calls["customers"] += 1
        return [CUSTOMER]


def agent(n: int) -> str:
    return f"agent-{n:04d}"


def offered(contact: str) -> CloudEvent:
    return CloudEvent(
        f"offered-{contact}", "switchboard/ccaas", "interaction.offered", "2026-12-06T03:00:00Z",
        contact,
    )  # fmt: skip


class _Desk:
    """The gateway's side of a replica: one broker, one shared read, a guard; its agents'
    screen-pop feeds, each consumed into a list of (contact, cursor, missed)."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.sources = _Sources()
        self.guard = Guard(Policy.load(), Masker(b"k"), AuditLog(lambda line: None))
        self.context = feed_context(broker, self.sources, self.guard)
        self.pops: dict[str, list[tuple[str, str, bool]]] = {}
        self.arrived: dict[str, asyncio.Queue[None]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def connect(self, name: str, after: str | None = None) -> None:
        principal = Principal(name, frozenset({"agent"}), "https://idp", time.time() + 3600, True)
        self.pops.setdefault(name, [])
        arrived = self.arrived.setdefault(name, asyncio.Queue())
        subscribed = self.broker.subscribers

        async def desktop() -> None:
            pop: Pop
            async for pop in screen_pops(self.context, principal, after):
                self.pops[name].append((pop.contact.id, pop.cursor, pop.missed))
                arrived.put_nowait(None)

        self._tasks[name] = asyncio.ensure_future(desktop())
        async with asyncio.timeout(20):  # subscribed (a guard, no timing asserted)
            while self.broker.subscribers == subscribed:  # noqa: ASYNC110 (the broker's state)
                await asyncio.sleep(0.005)

    async def disconnect(self, name: str) -> None:
        task = self._tasks.pop(name)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def call(self, contact: str, owner: str) -> str:
        self.sources.agent_of[contact] = owner
        cursor = await self.broker.publish(offered(contact))
        assert cursor is not None
        return cursor

    async def next_pop(self, name: str) -> tuple[str, str, bool]:
        """The desktop's next pop (its feed's error, should it end instead)."""
        getting = asyncio.ensure_future(self.arrived[name].get())
        desktop = self._tasks[name]
        try:
            async with asyncio.timeout(20):  # a guard against a hang, no timing asserted
                await asyncio.wait({getting, desktop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            getting.cancel()
        if not getting.done() or getting.cancelled():
            desktop.result()  # its error
            raise AssertionError(f"{name}'s feed ended")
        return self.pops[name][-1]

    async def aclose(self) -> None:
        for name in list(self._tasks):
            await self.disconnect(name)
        await self.broker.aclose()
        await self.guard.aclose()


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(params=["in-process", "redis"])
async def desk(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[_Desk]:
    broker: Broker
    if request.param == "redis":
        client = redis.from_url(redis_url)
        await client.flushall()
        await client.aclose()
        broker = RedisStreamsBroker(redis_url, block_ms=200)
    else:
        broker = InProcessBroker()
    made = _Desk(broker)
    yield made
    await made.aclose()


@pytest.fixture
def woken(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Feeds handed an event (its `frame` asked), by agent."""
    counts: Counter[str] = Counter()
    frame = module._ScreenPops.frame

    async def counted(self: Any, delivery: Delivery, missed: bool) -> Any:
        counts[self._principal.subject] += 1
        return await frame(self, delivery, missed)

    monkeypatch.setattr(module._ScreenPops, "frame", counted)
    return counts


async def test_an_offered_contact_wakes_its_agents_feed_only(
    desk: _Desk, woken: Counter[str]
) -> None:
    """20 agents subscribed: agent 3's offered contact is handed to agent 3's feed alone and
    costs one CCaaS read and one customer read; agent 9's next is handed to agent 9's alone."""
    for n in range(AGENTS):
        await desk.connect(agent(n))
    await desk.call("C-3", agent(3))
    assert (await desk.next_pop(agent(3)))[0] == "C-3"
    await desk.call("C-9", agent(9))
    assert (await desk.next_pop(agent(9)))[0] == "C-9"
    assert woken == Counter({agent(3): 1, agent(9): 1})
    assert desk.sources.calls == Counter({"contacts": 2, "customers": 2})
    popped = {name: [p[0] for p in pops] for name, pops in desk.pops.items() if pops}
    assert popped == {agent(3): ["C-3"], agent(9): ["C-9"]}  # on no other desktop


async def test_a_reconnected_desktop_gets_its_missed_offered_contact_once(desk: _Desk) -> None:
    """Agent 1 pops C-1, its connection drops; C-2 (its own) and C-3 (agent 2's) are offered
    meanwhile. Resumed from C-1's cursor it pops C-2 once, not said `missed` (nothing of its
    own was lost), then C-4 live once; agent 2, connected all along, pops C-3 only."""
    await desk.connect(agent(1))
    await desk.connect(agent(2))
    await desk.call("C-1", agent(1))
    _, cursor, _ = await desk.next_pop(agent(1))
    await desk.disconnect(agent(1))
    await desk.call("C-2", agent(1))
    await desk.call("C-3", agent(2))
    assert (await desk.next_pop(agent(2)))[0] == "C-3"
    await desk.connect(agent(1), after=cursor)
    assert (await desk.next_pop(agent(1)))[0] == "C-2"
    await desk.call("C-4", agent(1))
    assert (await desk.next_pop(agent(1)))[0] == "C-4"
    await desk.call("C-5", agent(2))  # a last one: every earlier event has been decided
    assert (await desk.next_pop(agent(2)))[0] == "C-5"
    assert [(c, missed) for c, _, missed in desk.pops[agent(1)]] == [
        ("C-1", False),
        ("C-2", False),
        ("C-4", False),
    ]
    assert [c for c, _, _ in desk.pops[agent(2)]] == ["C-3", "C-5"]


async def test_a_desktop_that_skips_others_events_resumes_without_a_gap(
    desk: _Desk, woken: Counter[str]
) -> None:
    """Agent 2 is routed none of agent 1's 30 offered contacts: its next pop, and the one after
    it resumes from its own last cursor, say nothing was missed (its cursor is still in the
    window: what went by was not its)."""
    await desk.connect(agent(1))
    await desk.connect(agent(2))
    await desk.call("B-1", agent(2))
    _, cursor, missed = await desk.next_pop(agent(2))
    assert not missed
    await desk.disconnect(agent(2))
    for n in range(30):
        await desk.call(f"A-{n}", agent(1))
        await desk.next_pop(agent(1))
    await desk.connect(agent(2), after=cursor)
    await desk.call("B-2", agent(2))
    assert (await desk.next_pop(agent(2)))[0] == "B-2"
    assert [(c, missed) for c, _, missed in desk.pops[agent(2)]] == [
        ("B-1", False),
        ("B-2", False),
    ]
    assert woken[agent(2)] == 1 + 30 + 1  # the replay of agent 1's is decided by its feed
