"""The routing context: what a contact flow needs to route a caller, from every system, within
a deadline of its own (a contact flow gives an external lookup 3 s by default, 8 s at most).

Every value comes from the function that already means it: the caller's identity from
`find_customers` (a phone; 0..n, a household), the loaders (a customer id) or `callers` (an
interaction: its CCaaS profile's customer, else the phone lookup of its ANI, as its screen
pop); open cases from `fields.cases_of`; repeat contact from
`journey.repeat_intent_of` (the journey's rule); needs-specialist from `fields.needs_specialist`
over `fields.risk_of` (never why). Then the first matching rule of an ordered rules file
(gateway/routing/rules.py loads and checks it) suggests a priority, a queue and a reason code.

Partial, never late: whatever has not answered by the deadline (or failed) is named in
`degraded`, its values are null, and the rules see them as unknown: a condition over an
unknown value does not hold (docs/routing.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sources import SourceError, narrowed_scope, records

from . import fields
from .callers import callers
from .errors import BadUserInput
from .identity import find_customers, normalise_phone, valid_contact_id, valid_customer_id
from .journey import JOURNEY_WINDOW, repeat_intent_of
from .loaders import Loaders

__all__ = [
    "FACT_TYPES",
    "SYSTEMS",
    "Condition",
    "Routing",
    "RoutingContext",
    "Rule",
    "check_routing_key",
    "routing_context",
]

SYSTEMS = ("CRM", "CORE", "CCAAS")
"""The systems a routing context reads (`degraded` names them)."""

FACT_TYPES: Mapping[str, type] = {
    "matches": int,
    "segment": str,
    "preferred_language": str,
    "open_cases": int,
    "escalated_case": bool,
    "repeat_contact": bool,
    "repeat_intent": str,
    "needs_specialist": bool,
}
"""What a rule may test, and the type of each value (`degraded` too: see `Condition`)."""

ESCALATED = "Escalated"
"""The CRM case status of an escalated case (schema CaseStatus.ESCALATED)."""


@dataclass(frozen=True, slots=True)
class Condition:
    """One test of a rule. `any_of`: the value is one of these (`degraded`: one of these
    systems did not answer; `{True}` any did, `{False}` none did); `minimum`/`maximum`:
    bounds of a number. A value that is null — its system did not answer, or there is not
    exactly one customer to describe — never satisfies a condition (`degraded` is never null)."""

    fact: str
    any_of: frozenset[Any] | None = None
    minimum: int | None = None
    maximum: int | None = None

    def holds(self, context: RoutingContext) -> bool:
        if self.fact == "degraded":
            wanted = self.any_of or frozenset()
            if True in wanted or False in wanted:
                return bool(context.degraded) in wanted
            return any(system in wanted for system in context.degraded)
        value = getattr(context, self.fact)
        if value is None:
            return False
        if self.any_of is not None and not _member(value, self.any_of):
            return False
        if self.minimum is not None and value < self.minimum:
            return False
        return self.maximum is None or value <= self.maximum


def _member(value: Any, wanted: frozenset[Any]) -> bool:
    # True == 1 in Python: compare type and value, so `matches = 1` never means `true`
    return any(type(w) is type(value) and w == value for w in wanted)


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    when: tuple[Condition, ...]
    priority: int
    queue: str
    reason: str

    def matches(self, context: RoutingContext) -> bool:
        return all(c.holds(context) for c in self.when)


@dataclass(frozen=True, slots=True)
class Routing:
    """The rules (checked at start-up: the last has no condition, so one always matches) and
    the deadline of a routing context, in seconds."""

    rules: tuple[Rule, ...]
    deadline: float = 0.3

    def decide(self, context: RoutingContext) -> Rule:
        """The first rule that matches: the file's order is its precedence."""
        return next(r for r in self.rules if r.matches(context))


@dataclass(frozen=True, slots=True)
class RoutingContext:
    """The record both executions project (schema/routing.py). Null: unknown or not
    applicable (several matches: who is calling is not known yet)."""

    matches: int | None
    customer_id: str | None
    segment: str | None
    preferred_language: str | None
    open_cases: int | None
    escalated_case: bool | None
    repeat_contact: bool | None
    repeat_intent: str | None
    needs_specialist: bool | None
    degraded: tuple[str, ...]
    priority: int = 0
    queue: str = ""
    reason: str = ""
    rule: str = ""


Key = tuple[str, str]


def check_routing_key(
    phone: str | None, customer_id: str | None, interaction_id: str | None
) -> Key:
    """Exactly one of the three, well-formed: ("phone", E.164) | ("customerId", id) |
    ("interactionId", uuid); BadUserInput otherwise."""
    given = [
        (name, value)
        for name, value in (
            ("phone", phone),
            ("customerId", customer_id),
            ("interactionId", interaction_id),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise BadUserInput("routingContext needs exactly one of phone, customerId, interactionId")
    name, value = given[0]
    if name == "phone":
        return name, normalise_phone(value)
    if name == "customerId":
        return name, valid_customer_id(value)
    return name, valid_contact_id(value)


@dataclass(slots=True)
class _Gathered:
    """What has arrived so far (filled by one task, read once its time is up)."""

    values: dict[str, Any] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)
    """Systems that failed, or were still being asked when the time ran out."""

    async def ask(self, system: str, pending: Awaitable[Any]) -> tuple[bool, Any]:
        """(answered, value): a source error marks `system` degraded, and so does the deadline
        (this wait cancelled); anything else raises."""
        try:
            value = await pending
        except SourceError:
            self.failed.add(system)
            return False, None
        except asyncio.CancelledError:
            self.failed.add(system)
            raise
        return True, value


Ready = Callable[[], Awaitable[None]]


async def routing_context(
    loaders: Loaders,
    ready: Ready,
    routing: Routing,
    phone: str | None,
    customer_id: str | None,
    interaction_id: str | None,
) -> RoutingContext:
    """`Query.routingContext`: the caller's routing facts and the rules' suggestion, answered
    by `routing.deadline` (or the request's, if sooner) with what has arrived."""
    key = check_routing_key(phone, customer_id, interaction_id)
    gathered = _Gathered()
    with narrowed_scope(routing.deadline) as scope:
        budget = routing.deadline
        if scope is not None:
            budget = min(budget, max(scope.deadline - time.monotonic(), 0.0))
        task = asyncio.ensure_future(_gather(loaders, ready, key, gathered))
        try:
            await asyncio.wait({task}, timeout=budget)
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
    if task.cancelled():
        if "matches" not in gathered.values and not gathered.failed:
            # out of time before the first system was even asked: it did not answer either
            gathered.failed.add("CCAAS" if key[0] == "interactionId" else "CRM")
    elif task.exception() is not None:
        raise task.exception()  # type: ignore[misc]
    return _decided(routing, gathered)


def _decided(routing: Routing, gathered: _Gathered) -> RoutingContext:
    degraded = tuple(s for s in SYSTEMS if s in gathered.failed)
    v = gathered.values
    context = RoutingContext(
        matches=v.get("matches"),
        customer_id=v.get("customer_id"),
        segment=v.get("segment"),
        preferred_language=v.get("preferred_language"),
        open_cases=v.get("open_cases"),
        escalated_case=v.get("escalated_case"),
        repeat_contact=v.get("repeat_contact"),
        repeat_intent=v.get("repeat_intent"),
        needs_specialist=v.get("needs_specialist"),
        degraded=degraded,
    )
    rule = routing.decide(context)
    return RoutingContext(
        **{name: getattr(context, name) for name in _FACTS},
        degraded=degraded,
        priority=rule.priority,
        queue=rule.queue,
        reason=rule.reason,
        rule=rule.name,
    )


_FACTS = (
    "matches",
    "customer_id",
    "segment",
    "preferred_language",
    "open_cases",
    "escalated_case",
    "repeat_contact",
    "repeat_intent",
    "needs_specialist",
)


async def _gather(loaders: Loaders, ready: Ready, key: Key, gathered: _Gathered) -> None:
    found = await _identify(loaders, key, gathered)
    if found is None:
        return
    gathered.values["matches"] = len(found)
    if len(found) == 1:
        await _describe(loaders, found[0], gathered)
    await ready()


async def _identify(
    loaders: Loaders, key: Key, gathered: _Gathered
) -> list[records.Customer] | None:
    """The customers the key names (None: a system did not answer)."""
    kind, value = key
    if kind == "phone":
        ok, customers = await gathered.ask("CRM", find_customers(loaders, phone=value))
        return customers if ok else None
    if kind == "customerId":
        read = loaders.customer.load(value)
        loaders.customer.dispatch()
        ok, customer = await gathered.ask("CRM", read)
        return ([] if customer is None else [customer]) if ok else None
    pending = loaders.contact.load(value)
    loaders.contact.dispatch()
    ok, contact = await gathered.ask("CCAAS", pending)
    if not ok:
        return None
    if contact is None:
        return []
    # who is calling, as the agent's screen pop has it: the profile's customer, else the phone
    # lookup of the contact's ANI (0..n: a household)
    ok, customers = await gathered.ask("CRM", callers(loaders, contact))
    return list(customers) if ok else None


async def _describe(loaders: Loaders, customer: records.Customer, gathered: _Gathered) -> None:
    """One customer: the CRM record's own facts at once, then cases, contacts and risk
    concurrently (one call per system), each recorded as it arrives.

    The three calls are the critical path's second level, so they are sent at once: their keys
    are queued here, before anything is awaited, and the loaders dispatched (no other field
    of the request will add a key to batch with)."""
    values = gathered.values
    values["customer_id"] = customer.id
    values["segment"] = customer.segment
    values["preferred_language"] = customer.preferred_language
    profile = customer.ccaas_profile_id
    cases = fields.one(fields.cases_of(loaders, [customer], "OPEN"))
    contacts = None if profile is None else loaders.contacts_of.load((profile, JOURNEY_WINDOW))
    risk = fields.one(fields.risk_of(loaders, [customer]))
    for loader in (loaders.cases, loaders.contacts_of, loaders.risk):
        loader.dispatch()

    async def open_cases() -> None:
        ok, found = await gathered.ask("CRM", cases)
        if ok:
            values["open_cases"] = len(found)
            values["escalated_case"] = any(c.status == ESCALATED for c in found)

    async def repeat() -> None:
        answered: list[records.Contact]
        if contacts is None:  # no CCaaS profile: no contacts, so no repeat
            ok, answered = True, []
        else:
            ok, answered = await gathered.ask("CCAAS", contacts)
        if ok:
            intent = repeat_intent_of(answered, datetime.now(UTC))
            values["repeat_contact"] = intent is not None
            values["repeat_intent"] = intent

    async def specialist() -> None:
        ok, found = await gathered.ask("CORE", risk)
        if ok:
            values["needs_specialist"] = found is not None and fields.needs_specialist(found)

    try:
        await asyncio.gather(open_cases(), repeat(), specialist())
    finally:
        # a part the deadline cancelled before it started never awaited its wait: closed, so
        # it is not reported as a coroutine never awaited (a no-op for the ones that ran)
        cases.close()
        risk.close()
