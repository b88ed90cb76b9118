"""`Query.routingContext`: what a contact flow (IVR, bot) needs to route a caller, and the
rules' suggestion. Its meaning is resolvers/routing.py `routing_context`, which both executions
call (standard through `Query`, compiled through `ROUTING_ROOT`); here the record becomes the
schema's type.

Nothing in it is sensitive: `needsSpecialist` is the role display matrix's boolean every role
sees (never why), contact intents and case counts are unclassified, and the rules may test only
these values, so a suggestion derives from nothing a caller may not see.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry

from resolvers import routing

from .binding import Args, Binding, Read, RootFetch
from .context import Context
from .enums import Segment

__all__ = ["ROUTING_BINDING", "ROUTING_ROOT", "RoutingContext", "System"]


@strawberry.enum(description="A system of record a routing context reads.")
class System(Enum):
    CRM = "CRM"
    CORE = "CORE"
    CCAAS = "CCAAS"


@strawberry.type(
    description="What a contact flow needs to route a caller, answered within the routing "
    "deadline ([routing] deadline_ms): a null value is unknown (its system is in `degraded`) or "
    "not applicable (no single customer: `matches` is 0 or several, a household)."
)
class RoutingContext:
    matches: int | None = strawberry.field(
        description="Customers the key names: 0, 1, or several (a shared household phone); "
        "null if the CRM did not answer."
    )
    customer_id: strawberry.ID | None = strawberry.field(description="When exactly one matches.")
    segment: Segment | None
    preferred_language: str | None
    open_cases: int | None
    escalated_case: bool | None = strawberry.field(description="One of the open cases is.")
    repeat_contact: bool | None = strawberry.field(
        description="The same intent twice within 7 days (the journey's rule)."
    )
    repeat_intent: str | None
    needs_specialist: bool | None = strawberry.field(
        description="A fraud hold or arrears; never which."
    )
    priority: int = strawberry.field(description="The matching rule's (1 is the most urgent).")
    queue: str
    reason: str = strawberry.field(description="The matching rule's reason code.")
    rule: str = strawberry.field(description="The name of the rule that matched.")
    degraded: list[System] = strawberry.field(
        description="Systems that failed or did not answer within the deadline."
    )

    @classmethod
    def of(cls, r: routing.RoutingContext) -> RoutingContext:
        return cls(
            matches=r.matches,
            customer_id=None if r.customer_id is None else strawberry.ID(r.customer_id),
            segment=None if r.segment is None else Segment(r.segment),
            preferred_language=r.preferred_language,
            open_cases=r.open_cases,
            escalated_case=r.escalated_case,
            repeat_contact=r.repeat_contact,
            repeat_intent=r.repeat_intent,
            needs_specialist=r.needs_specialist,
            priority=r.priority,
            queue=r.queue,
            reason=r.reason,
            rule=r.rule,
            degraded=[System(s) for s in r.degraded],
        )


ROUTING_BINDING: dict[str, Binding] = {"degraded": Read(lambda r: list(r.degraded))}
"""Compiled execution: every other field is a record attribute (a list leaf must be a list)."""


async def routing_root(context: Context, args: Args) -> Any:
    """The one call both executions make."""
    return await routing.routing_context(
        context.loaders,
        context.ready,
        context.routing,
        args.get("phone"),
        args.get("customerId"),
        args.get("interactionId"),
    )


ROUTING_ROOT = RootFetch(routing_root)
