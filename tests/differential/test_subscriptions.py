"""Subscriptions on both executions: the same documents subscribed on a compiled and a standard
gateway, the same deliveries from one broker (tests/support/subscribing.py, through the entry
point the WebSocket uses), and every frame compared whole — data, errors, extensions, the cursor
included — and each event's audit events. The sandbox holds the contacts the feed re-reads;
the events are published to the broker directly, so each is read while its contact holds still.
Over real sockets: tests/events/test_screen_pops.py (on the default, compiled execution) and
tests/gateway/test_subscription_cancellation.py (both)."""

from __future__ import annotations

import asyncio
import difflib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.events.broker import InProcessBroker
from schema import build_schema
from sources.sandbox import create_app as sandbox_app
from sources.sandbox.client import households, sample_customers, set_fault, start_contact
from sources.sandbox.server import background_server
from tests.support.subscribing import (
    Side,
    Subscribed,
    contact_event,
    open_sources,
    principal,
    sides,
    until,
)

ROLES = ("agent", "ivr", "developer", "supervisor", "fraud_analyst", "collections")
SCHEMA = build_schema()._schema

WHOLE = """subscription Whole($first: Int!) {
  screenPops {
    __typename cursor event
    interaction {
      id channel direction state startedAt endedAt queue agentId intent summary disposition
      idvResult verified
      customer { id ssn dateOfBirth }
    }
    customers {
      id fullName firstName lastName dateOfBirth ssn emails segment preferredLanguage
      phones { number type }
      address { street city state postalCode country }
      accounts {
        id type productName status currency accountNumber balance availableBalance openedOn
        daysPastDue
        transactions(first: $first) { id postedAt amount currency description status merchant }
      }
      cards { id pan brand status expiry accountId }
      interactions(first: $first) { id summary idvResult }
      cases { id subject status }
      journey {
        stage repeatContact openItems { kind refId summary }
        events(first: $first) { kind summary refId }
      }
      risk { needsSpecialist fraudHold fraudReason collectionsStatus daysPastDue }
      suggestedArticles(first: 2) { id title }
    }
  }
}"""

SHAPED = """subscription Shaped($withCustomers: Boolean!, $noContact: Boolean!) {
  pop: screenPops {
    at: cursor
    kind: event
    ...Contact @skip(if: $noContact)
    customers @include(if: $withCustomers) { ...Person who: fullName }
    customers { id }
  }
}
fragment Contact on ScreenPop { interaction { ... on Interaction { id summary } agent: agentId } }
fragment Person on Customer { id dob: dateOfBirth phones { number } }"""

BAD_ARGUMENT = """subscription {
  screenPops { event customers { id interactions(first: 0) { id } cards { id } } }
}"""

NESTED = "journey { lastContact { customer { " * 4
DEEP = f"subscription {{ screenPops {{ customers {{ {NESTED} id {'} } } ' * 4} }} }} }}"
ALIASES = " ".join(f"a{i}: event" for i in range(40))
MANY_ALIASES = f"subscription {{ screenPops {{ {ALIASES} }} }}"
COSTLY = """subscription ($n: Int = 50) { screenPops { customers {
  interactions(first: $n) { customer { accounts {
    id balance currency transactions(first: 100) { id amount currency description status }
  } } }
} } }"""
REFUSED_BEFORE_THE_FIRST_FRAME: list[tuple[str, dict[str, Any] | None]] = [
    ("subscription { screenPops { nope } }", None),  # validation
    ("subscription { screenPops { event } other: screenPops { cursor } }", None),
    ("subscription ($n: Int!) { screenPops { customers { cards { id } } } }", None),
    ("subscription ($after: String) { screenPops(after: $after) { event } }", {"after": 7}),
    ('subscription { screenPops(after: "not-a-cursor") { event } }', None),  # the feed's
    (DEEP, None),  # limits: depth
    (MANY_ALIASES, None),  # limits: aliases
    (COSTLY, None),  # limits: cost, the variable's default applied
    ('{ customer(id: "1") { id } }', None),  # a query over the socket
]


JOURNEY = """subscription Journey($id: ID!, $first: Int!) {
  journeyUpdates(customerId: $id) { cursor missed cause customer { ...Everything } }
}
fragment Everything on Customer {
  id fullName dateOfBirth ssn emails phones { number type } address { city postalCode }
  accounts { id accountNumber balance transactions(first: $first) { amount description } }
  cards { id pan expiry } risk { fraudHold fraudReason collectionsStatus daysPastDue }
  interactions(first: $first) { id summary idvResult }
  journey { stage openItems { kind refId summary } events(first: $first) { kind summary refId } }
}"""


@dataclass(frozen=True)
class Sandbox:
    url: str


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    app = sandbox_app(customers=300)
    with background_server(app, lifespan="off") as url:
        yield Sandbox(url)


@pytest.fixture
async def both(sandbox: Sandbox) -> AsyncIterator[dict[str, Side]]:
    sources = open_sources(sandbox.url)
    made = sides(sandbox.url, InProcessBroker(), sources)
    try:
        yield made
    finally:
        for side in made.values():
            await side.guard.aclose()
        await sources.aclose()


def _errors_sorted(frame: dict[str, Any]) -> dict[str, Any]:
    """The frame with its errors in path order (GraphQL leaves their order unspecified)."""
    errors = frame.get("errors")
    if errors:
        frame = {
            **frame,
            "errors": sorted(errors, key=lambda e: (json.dumps(e.get("path")), e["message"])),
        }
    return frame


def _difference(compiled: dict[str, Any], standard: dict[str, Any]) -> str:
    """The lines of the two frames (pretty-printed) that differ."""
    a = json.dumps(_errors_sorted(compiled), indent=1, sort_keys=True).splitlines()
    b = json.dumps(_errors_sorted(standard), indent=1, sort_keys=True).splitlines()
    return "\n".join(difflib.unified_diff(a, b, "compiled", "standard", lineterm="", n=2))


def _audit(lines: list[dict[str, Any]]) -> list[str]:
    kept = [{k: v for k, v in e.items() if k not in ("time", "requestId")} for e in lines]
    return sorted(json.dumps(e, sort_keys=True) for e in kept)


async def _run(
    both: dict[str, Side],
    roles: frozenset[str],
    query: str,
    variables: dict[str, Any] | None,
    events: list[tuple[str, str]],
    agent: str,
) -> dict[str, list[dict[str, Any]]]:
    """Subscribe on both, publish `events` ((type, contact id)) one at a time, and return
    each side's frames; each event's audit events are compared once they are written."""
    who = principal(agent, roles)
    subs: dict[str, Subscribed] = {}
    for name, side in both.items():
        subs[name] = await side.subscribe(who, query, variables)
        subs[name].ask()
    broker = next(iter(both.values())).broker
    await until(lambda: broker.subscribers == len(both) or any(s.answered() for s in subs.values()))
    frames: dict[str, list[dict[str, Any]]] = {name: [] for name in both}
    if any(s.answered() for s in subs.values()):  # refused before subscribing: both alike
        for name, sub in subs.items():
            frames[name].append(await sub.frame())
            await sub.close()
        return frames
    try:
        for kind, contact in events:
            await broker.publish(contact_event(kind, contact, agent))
            for name, sub in subs.items():
                frames[name].append(await sub.frame())
                sub.ask()  # the frame is out: asking for the next writes its audit lines
            await until(lambda: all(_idle(side) for side in both.values()))
            # and the feeds are back waiting for the broker: the audit writer woke them (FIFO)
            # when it gave the places back, so one more step of this task comes after theirs
            await asyncio.sleep(0)
            audits = [_audit(side.audit) for side in both.values()]
            assert audits[0] == audits[1], (kind, audits)
    finally:
        for sub in subs.values():
            await sub.close()
    await until(lambda: broker.subscribers == 0)
    return frames


def _idle(side: Side) -> bool:
    """Every audit place given back: the last event's lines are written (the next event's
    place is reserved only when it arrives)."""
    audit = side.guard.audit
    return audit._free == audit.max_pending


async def _customer(sandbox: Sandbox, index: int = 0) -> str:
    found: str = (await sample_customers(sandbox.url, index + 1))[index]["id"]
    return found


def _assert_same(frames: dict[str, list[dict[str, Any]]], both: dict[str, Side]) -> None:
    compiled, standard = frames["compiled"], frames["standard"]
    assert len(compiled) == len(standard)
    for a, b in zip(compiled, standard, strict=True):
        assert _errors_sorted(a) == _errors_sorted(b), _difference(a, b)
        for error in a.get("errors") or ():
            assert (error.get("extensions") or {}).get("code") != "INTERNAL", error
    assert _audit(both["compiled"].audit) == _audit(both["standard"].audit)
    # the compiled gateway planned every event, the standard one ran each as configured
    events = sum(1 for frame in compiled if frame.get("data") is not None)
    assert both["compiled"].operations("compiled") == events
    assert both["standard"].operations("standard", "configured") == events


@pytest.mark.parametrize("role", ROLES)
async def test_every_field_masked_before_and_after_verification(
    sandbox: Sandbox, both: dict[str, Side], role: str
) -> None:
    customer = await _customer(sandbox)
    agent = f"{role}-subs"
    waiting = await start_contact(
        sandbox.url, customer_id=customer, agent_id=agent, idv="NOT_ATTEMPTED"
    )
    passed = await start_contact(sandbox.url, customer_id=customer, agent_id=agent, idv="PASSED")
    events = [
        ("interaction.offered", waiting),
        ("interaction.connected", waiting),
        ("customer.verified", passed),
        ("interaction.ended", passed),
    ]
    frames = await _run(both, frozenset({role}), WHOLE, {"first": 3}, events, agent)
    _assert_same(frames, both)
    if frames["compiled"][0].get("data") is None:
        return  # a role the feed refuses outright: refused alike (compared above)
    pops = [f["data"]["screenPops"] for f in frames["compiled"]]
    assert [p["event"] for p in pops] == ["OFFERED", "CONNECTED", "VERIFIED", "ENDED"]
    verification = [f["extensions"]["verification"]["status"] for f in frames["compiled"]]
    assert verification[0] != "verified" and verification[2] == "verified"


@pytest.mark.parametrize("role", ROLES)
async def test_a_household_call_masked_alike_and_never_verified(
    sandbox: Sandbox, both: dict[str, Side], role: str
) -> None:
    """A caller the CCaaS system has no profile for, from a household's shared phone (national
    format): its customers are the phone's 2-3 matches, every one unverified, ID&V or not."""
    household = (await households(sandbox.url, 1))[0]
    digits = household["phone"].removeprefix("+1")
    phone = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    agent = f"{role}-household"
    waiting = await start_contact(sandbox.url, phone=phone, agent_id=agent, idv="NOT_ATTEMPTED")
    passed = await start_contact(sandbox.url, phone=phone, agent_id=agent, idv="PASSED")
    events = [
        ("interaction.offered", waiting),
        ("interaction.connected", waiting),
        ("customer.verified", passed),
        ("interaction.ended", passed),
    ]
    frames = await _run(both, frozenset({role}), WHOLE, {"first": 3}, events, agent)
    _assert_same(frames, both)
    if frames["compiled"][0].get("data") is None:
        return  # a role the feed refuses outright: refused alike (compared above)
    pops = [f["data"]["screenPops"] for f in frames["compiled"]]
    assert [p["event"] for p in pops] == ["OFFERED", "CONNECTED", "VERIFIED", "ENDED"]
    for pop in pops:
        assert sorted(c["id"] for c in pop["customers"]) == sorted(household["customers"])
        assert pop["interaction"]["customer"] is None
    verification = [f["extensions"]["verification"]["status"] for f in frames["compiled"]]
    assert "verified" not in verification


@pytest.mark.parametrize(
    "variables",
    [
        {"withCustomers": True, "noContact": False},
        {"withCustomers": False, "noContact": True},
    ],
)
async def test_aliases_fragments_and_directives(
    sandbox: Sandbox, both: dict[str, Side], variables: dict[str, Any]
) -> None:
    customer = await _customer(sandbox, 1)
    contact = await start_contact(
        sandbox.url, customer_id=customer, agent_id="agent-shaped", idv="NOT_ATTEMPTED"
    )
    events = [("interaction.connected", contact), ("interaction.ended", contact)]
    frames = await _run(both, frozenset({"agent"}), SHAPED, variables, events, "agent-shaped")
    _assert_same(frames, both)
    pop = frames["compiled"][0]["data"]["pop"]
    assert ("interaction" in pop) is not variables["noContact"]


async def test_a_bad_argument_under_the_payload(sandbox: Sandbox, both: dict[str, Side]) -> None:
    customer = await _customer(sandbox, 2)
    contact = await start_contact(sandbox.url, customer_id=customer, agent_id="agent-bad")
    frames = await _run(
        both,
        frozenset({"agent"}),
        BAD_ARGUMENT,
        None,
        [("interaction.connected", contact)],
        "agent-bad",
    )
    _assert_same(frames, both)
    assert frames["compiled"][0]["errors"]


async def test_a_failing_back_end_gives_the_same_partial_frame(
    sandbox: Sandbox, both: dict[str, Side]
) -> None:
    customer = await _customer(sandbox, 3)
    contact = await start_contact(sandbox.url, customer_id=customer, agent_id="agent-partial")
    await set_fault(sandbox.url, "core", mode="error")
    try:
        frames = await _run(
            both,
            frozenset({"supervisor"}),
            WHOLE,
            {"first": 2},
            [("interaction.connected", contact)],
            "agent-partial",
        )
    finally:
        await set_fault(sandbox.url, "core", mode="ok")
    _assert_same(frames, both)
    frame = frames["compiled"][0]
    customers = frame["data"]["screenPops"]["customers"]
    assert customers and customers[0]["accounts"] is None  # partial: the CRM's part is there
    assert customers[0]["fullName"]
    assert {e["path"][-1] for e in frame["errors"]} >= {"accounts", "cards", "risk"}


@pytest.mark.parametrize(("query", "variables"), REFUSED_BEFORE_THE_FIRST_FRAME)
async def test_refusals_before_the_first_frame(
    both: dict[str, Side], query: str, variables: dict[str, Any] | None
) -> None:
    who = principal("agent-refused", frozenset({"agent"}))
    frames = {}
    for name, side in both.items():
        sub = await side.subscribe(who, query, variables)
        frames[name] = await asyncio.wait_for(sub.frame(), 10)
        await sub.close()
    assert frames["compiled"] == frames["standard"]
    assert "error" in frames["compiled"] or frames["compiled"]["data"] is None


@pytest.mark.skipif(
    "journeyUpdates" not in (SCHEMA.subscription_type.fields if SCHEMA.subscription_type else {}),
    reason="no Subscription.journeyUpdates in this schema",
)
@pytest.mark.parametrize("role", ROLES)
async def test_journey_updates_alike(sandbox: Sandbox, both: dict[str, Side], role: str) -> None:
    """The other subscription, generic over its payload type (JourneyUpdate): a customer's
    contact events, the whole customer per frame, never verified (no interaction named)."""
    customer = await _customer(sandbox, 4)
    contact = await start_contact(sandbox.url, customer_id=customer, agent_id="agent-journey")
    events = [("interaction.connected", contact), ("interaction.ended", contact)]
    variables = {"id": customer, "first": 3}
    frames = await _run(both, frozenset({role}), JOURNEY, variables, events, "agent-journey")
    _assert_same(frames, both)
