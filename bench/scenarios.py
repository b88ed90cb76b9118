"""The benchmark's scenarios: each GraphQL operation, the role that asks it, and the optimum number
of back-end calls with its derivation.

The optimum is one call per source resource per dependent level (what must be known before the
call can be made), each batched call chunked by the system's batch limit (200 ids, the sandbox's
documented maximum and the gateway's default `max_batch`). The critical path at a given sandbox
latency is the number of dependent levels times that latency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BATCH",
    "IVR",
    "SCENARIOS",
    "SCREEN_POP",
    "SUPERVISOR",
    "Scenario",
    "count_fields",
]

BATCH = 200

SCREEN_POP = """query ScreenPop($phone: String!) { findCustomers(phone: $phone) {
  id fullName segment
  accounts { id type balance transactions(first: 5) { postedAt amount description } }
  cards { pan brand status } interactions(first: 10) { channel startedAt intent verified }
  cases(status: OPEN) { number subject } journey { stage events(first: 20) { at kind summary } }
  suggestedArticles(first: 3) { title } risk { needsSpecialist fraudHold collectionsStatus }
} }"""

IVR = (
    """query Ivr($id: ID!) { customer(id: $id) { firstName segment accounts { type balance } } }"""
)

SUPERVISOR = """query Supervisor($ids: [ID!]!) { customers(ids: $ids) {
  id fullName segment
  accounts { id type productName status balance }
  cases { number subject status priority }
} }"""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    operation: str
    query: str
    role: str
    subject: str
    ids: int = 0
    """customers(ids:) size (supervisor only)."""
    optimum: dict[str, int] = field(default_factory=dict)
    """Back-end calls per operation by "system route", at the optimum."""
    levels: int = 0
    """Dependent round trips: the critical path is levels x the sandbox latency."""
    derivation: str = ""

    @property
    def optimum_calls(self) -> int:
        return sum(self.optimum.values())


def _supervisor(n: int) -> Scenario:
    chunks = math.ceil(n / BATCH)
    return Scenario(
        name=f"supervisor-{n}",
        operation="Supervisor",
        query=SUPERVISOR,
        role="supervisor",
        subject="supervisor-0001",
        ids=n,
        optimum={
            "crm GET /customers": chunks,
            "core GET /accounts": chunks,
            "crm GET /cases": chunks,
        },
        levels=2,
        derivation=(
            f"level 1: CRM customers by id ({n} ids / {BATCH} per call = {chunks}); level 2, "
            f"in parallel: core accounts by party and CRM cases by customer ({chunks} each) "
            f"= {3 * chunks} calls, 2 dependent round trips"
        ),
    )


SCENARIOS: dict[str, Scenario] = {
    "screenpop": Scenario(
        name="screenpop",
        operation="ScreenPop",
        query=SCREEN_POP,
        role="supervisor",
        subject="supervisor-0001",
        optimum={
            "crm GET /customers/search": 1,
            "crm GET /cases": 1,
            "core GET /accounts": 1,
            "core GET /cards": 1,
            "core GET /events": 1,
            "core GET /risk": 1,
            "core GET /parties": 1,
            "ccaas GET /contacts": 1,
            "core GET /transactions": 1,
            "knowledge GET /articles/by-intent": 1,
        },
        levels=3,
        derivation=(
            "level 1: CRM search by phone (1); level 2, needing the CRM's party and profile ids: "
            "core accounts, cards, events, risk, parties (the journey's DATA_MISMATCH items), "
            "CCaaS contacts (shared by interactions, journey and article intents) and CRM cases "
            "(shared by cases and journey) (7); level 3: core transactions of those accounts and "
            "knowledge articles for the contacts' intents (2) = 10 calls, 3 dependent round trips"
        ),
    ),
    "ivr": Scenario(
        name="ivr",
        operation="Ivr",
        query=IVR,
        role="ivr",
        subject="ivr-bot",
        optimum={
            "ccaas GET /contacts": 1,
            "crm GET /customers": 1,
            "core GET /accounts": 1,
        },
        levels=2,
        derivation=(
            "the bot's live, ID&V-passed interaction from CCaaS (1: balance is shown to a "
            "verified ivr only); CRM customer (1); core accounts of its party (1) = 3 calls. "
            "The confirmation needs no customer data, so it overlaps the CRM read (in the "
            "gateway and in the floor): 2 dependent round trips"
        ),
    ),
    **{f"supervisor-{n}": _supervisor(n) for n in (10, 100, 1000)},
}


def count_fields(value: Any) -> int:
    """Resolved fields in a response's `data`: every key of every object (a list of scalars is
    one field; each object in a list counts its own keys)."""
    if isinstance(value, dict):
        return len(value) + sum(count_fields(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_fields(v) for v in value)
    return 0
