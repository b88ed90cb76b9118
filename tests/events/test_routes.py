"""Routed events (gateway/events/routes.py), against both brokers: an event whose owner a router
learns (an offered contact: its agent) is queued for the owner's subscriptions only, once, in
publish order; the others are never handed it; resuming from a cursor still delivers it once;
a routed event that does not fit ends the subscription before it; a router that cannot say
delivers it to nobody and holds nobody up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import redis.asyncio as redis

from gateway.events.broker import Broker, Delivery, InProcessBroker, Item, Overflow, Route
from gateway.events.mapping import CloudEvent
from gateway.events.redis_broker import RedisStreamsBroker
from sources import SourceUnavailable
from tests.events.test_broker import rest, take
from tests.support.redis import redis_server

ISSUER = "https://idp"


def offered(contact: str) -> CloudEvent:
    return CloudEvent(
        f"offered-{contact}", "switchboard/ccaas", "interaction.offered", "2026-12-06T03:00:00Z",
        contact,
    )  # fmt: skip


def marker(n: int) -> CloudEvent:
    """An event every subscription takes (not routed)."""
    return CloudEvent(
        f"m-{n}", "switchboard/core", "payment.posted", "2026-12-06T03:00:00Z", f"P-{n}"
    )


class _Agents:
    """A router: offered contacts, whose agent is in `owners`; asked once per event."""

    def __init__(self) -> None:
        self.owners: dict[str, str] = {}
        self.asked: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False

    def routed(self, event: CloudEvent) -> bool:
        return event.type == "interaction.offered"

    async def owner(self, delivery: Delivery) -> str | None:
        self.asked.append(delivery.event.subject)
        await self.gate.wait()
        if self.fail:
            raise SourceUnavailable("ccaas", "down")
        return self.owners.get(delivery.event.subject)


def agent(n: int) -> str:
    return f"agent-{n:04d}"


async def until_marker(subscription: Any, n: int) -> list[Item]:
    """Items up to and including the marker `n` (a guard against a hang, no timing asserted)."""
    items: list[Item] = []
    async with asyncio.timeout(20):
        async for item in subscription:
            items.append(item)
            if isinstance(item, Delivery) and item.event.id == f"m-{n}":
                return items
    return items


async def asked(agents: _Agents) -> None:
    """Until the router was asked (its task started; a guard against a hang)."""
    async with asyncio.timeout(20):
        while not agents.asked:  # noqa: ASYNC110 (the router's own state)
            await asyncio.sleep(0.001)


def ids(items: list[Item]) -> list[str]:
    return [i.event.id if isinstance(i, Delivery) else type(i).__name__ for i in items]


Make = Callable[..., Broker]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(params=["in-process", "redis"])
async def make(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[Make]:
    made: list[Broker] = []
    if request.param == "redis":
        client = redis.from_url(redis_url)
        await client.flushall()
        await client.aclose()

    def factory(**options: Any) -> Broker:
        broker: Broker
        if request.param == "redis":
            broker = RedisStreamsBroker(redis_url, block_ms=200, **options)
        else:
            broker = InProcessBroker(**options)
        made.append(broker)
        return broker

    yield factory
    for broker in made:
        await broker.aclose()


async def test_a_routed_event_is_queued_for_its_owner_only(make: Make) -> None:
    """50 agents subscribed with the router: an offered contact of agent 7 is asked about once
    and handed to agent 7's two subscriptions only; the other 48 go straight from what they
    had to the next event. A subscription without a route still gets it by its `wants`."""
    broker, agents = make(), _Agents()
    routed = {n: broker.subscribe(route=Route(agents, (ISSUER, agent(n)))) for n in range(50)}
    second = broker.subscribe(route=Route(agents, (ISSUER, agent(7))))  # another desktop
    unrouted = broker.subscribe()
    agents.owners["C-1"] = agent(7)
    await broker.publish(offered("C-1"))
    await broker.publish(marker(1))
    handed = {n: ids(await until_marker(s, 1)) for n, s in routed.items()}
    assert handed[7] == ["offered-C-1", "m-1"]
    assert {n: h for n, h in handed.items() if n != 7} == {n: ["m-1"] for n in routed if n != 7}
    assert ids(await until_marker(second, 1)) == ["offered-C-1", "m-1"]
    assert ids(await until_marker(unrouted, 1)) == ["offered-C-1", "m-1"]
    assert agents.asked == ["C-1"]  # one question per event, whatever the number of agents


async def test_a_later_event_waits_for_an_earlier_routed_one(make: Make) -> None:
    """The owner gets its events in publish order even when a later one (its contact's
    CONNECTED, naming it) is fanned out before the offered one's owner is known."""
    broker, agents = make(), _Agents()
    mine = broker.subscribe(route=Route(agents, (ISSUER, agent(1))))
    other = broker.subscribe(route=Route(agents, (ISSUER, agent(2))))
    watcher = broker.subscribe(wants=lambda e: e.type == "payment.posted")
    agents.owners["C-1"] = agent(1)
    agents.gate.clear()
    await broker.publish(offered("C-1"))
    await broker.publish(marker(1))
    taking = asyncio.ensure_future(until_marker(mine, 1))
    # the watcher has the marker: it was fanned out to `mine` too, while the owner is unknown
    assert ids(await until_marker(watcher, 1)) == ["m-1"]
    await asked(agents)
    await asyncio.sleep(0)  # `mine` looks at its queue
    assert not taking.done()
    agents.gate.set()
    assert ids(await taking) == ["offered-C-1", "m-1"]
    assert ids(await until_marker(other, 1)) == ["m-1"]


async def test_a_subscription_made_while_an_event_is_routed_gets_it_once(make: Make) -> None:
    """A desktop that reconnects (from its cursor) while an offered contact is being routed
    has it in its replay: it is not also routed to it."""
    broker, agents = make(), _Agents()
    first = broker.subscribe(route=Route(agents, (ISSUER, agent(1))))
    witness = broker.subscribe(route=Route(agents, (ISSUER, agent(1))))  # another desktop
    agents.owners["C-1"] = agent(1)
    before = await broker.publish(marker(0))
    assert ids(await until_marker(first, 0)) == ["m-0"]
    agents.gate.clear()
    await broker.publish(offered("C-1"))
    await asked(agents)
    await first.aclose()  # the desktop's connection dropped
    resumed = broker.subscribe(after=before, route=Route(agents, (ISSUER, agent(1))))
    agents.gate.set()
    await broker.publish(marker(1))
    # routed to the witness, so settled: whatever it was placed in was placed
    assert ids(await until_marker(witness, 1)) == ["m-0", "offered-C-1", "m-1"]
    assert ids(await until_marker(resumed, 1)) == ["offered-C-1", "m-1"]
    await resumed.aclose()


async def test_resuming_after_a_disconnect_delivers_the_missed_routed_event_once(
    make: Make,
) -> None:
    """Disconnected, an agent misses its offered contact (and another agent's); resumed from
    its last cursor it gets its own once (decided by its feed: replays are not routed), then
    its next offered contact live, routed, once."""
    broker, agents = make(), _Agents()
    agents.owners |= {"C-1": agent(1), "C-2": agent(1), "C-3": agent(2), "C-4": agent(1)}
    mine = broker.subscribe(route=Route(agents, (ISSUER, agent(1))))
    await broker.publish(offered("C-1"))
    got = await take(mine, 1)
    assert ids(got) == ["offered-C-1"]
    await mine.aclose()
    await broker.publish(offered("C-2"))  # missed while disconnected
    await broker.publish(offered("C-3"))  # agent 2's
    assert isinstance(got[0], Delivery)
    resumed = broker.subscribe(after=got[0].cursor, route=Route(agents, (ISSUER, agent(1))))
    await broker.publish(offered("C-4"))
    await broker.publish(marker(1))
    # the replay is every event after the cursor up to where the replica was: agent 2's is
    # in it (its feed turns it down) when the replay reached it, else routed away
    replayed = [i for i in ids(await until_marker(resumed, 1)) if i != "offered-C-3"]
    assert replayed == ["offered-C-2", "offered-C-4", "m-1"]
    await resumed.aclose()


async def test_a_routed_event_that_does_not_fit_ends_the_subscription_before_it(
    make: Make,
) -> None:
    """Queue of 2, filled by later events while the offered contact's owner is learned: the
    subscription overflows with a resume point before the offered contact, and resuming
    delivers it and what followed, once."""
    broker, agents = make(queue_size=2), _Agents()
    mine = broker.subscribe(route=Route(agents, (ISSUER, agent(1))))
    agents.owners["C-1"] = agent(1)
    start = await broker.publish(marker(0))
    assert start is not None
    assert ids(await take(mine, 1)) == ["m-0"]
    watcher = broker.subscribe(wants=lambda e: e.type == "payment.posted")
    agents.gate.clear()
    await broker.publish(offered("C-1"))
    await broker.publish(marker(1))
    await broker.publish(marker(2))
    # the watcher has both markers: they were fanned out to `mine` too, whose queue is full
    assert ids(await until_marker(watcher, 2)) == ["m-1", "m-2"]
    await asked(agents)
    agents.gate.set()
    got = await rest(mine)
    assert got == [Overflow(start)]
    resumed = broker.subscribe(after=start, route=Route(agents, (ISSUER, agent(1))))
    assert ids(await until_marker(resumed, 2)) == ["offered-C-1", "m-1", "m-2"]
    await resumed.aclose()


async def test_a_router_that_cannot_say_delivers_to_nobody_and_holds_nobody_up(
    make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    broker, agents = make(), _Agents()
    subscriptions = [broker.subscribe(route=Route(agents, (ISSUER, agent(n)))) for n in range(5)]
    agents.owners["C-1"] = agent(1)
    agents.fail = True
    with caplog.at_level(logging.WARNING, "gateway.events"):
        await broker.publish(offered("C-1"))
        await broker.publish(marker(1))
        for subscription in subscriptions:
            assert ids(await until_marker(subscription, 1)) == ["m-1"]
    assert [r.getMessage() for r in caplog.records if "could not be learned" in r.getMessage()] == [
        "events: whose event offered-C-1 is could not be learned (SourceUnavailable): not delivered"
    ]


async def test_no_subject_is_left_indexed_once_its_subscriptions_are_gone(make: Make) -> None:
    broker, agents = make(), _Agents()
    subscriptions = [broker.subscribe(route=Route(agents, (ISSUER, agent(n)))) for n in range(3)]
    routes = broker._routes  # type: ignore[attr-defined]
    assert routes.subjects == 3
    for subscription in subscriptions:
        await subscription.aclose()
    assert routes.subjects == 0
    agents.owners["C-1"] = agent(1)
    await broker.publish(offered("C-1"))
    assert agents.asked == []  # no routed subscription: nothing is read for it
