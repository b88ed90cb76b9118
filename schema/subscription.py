"""The root Subscription (issue #14, "Events out"). `screenPops`: the calling agent's own contacts
as they are offered, connected, verified and ended, each with the customers matched for it;
`journeyUpdates` (schema/journey_updates.py): one customer's journey as events arrive. The
gateway decides which events a subscriber gets and under which access each is read (its
`Context.screen_pops`, `Context.journey_updates`); the schema only declares the shape and builds
the objects, so masking happens in the same wrappers as for queries."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from enum import Enum

import strawberry

from sources import records

from .binding import Binding, Child
from .context import Info
from .journey_updates import JourneyUpdate
from .mutation import WriteResult
from .sensitive import contact_owner
from .types import Customer, Interaction

__all__ = ["SCREEN_POP_BINDING", "Pop", "ScreenPop", "ScreenPopEvent", "Subscription"]


@strawberry.enum(description="What happened to the agent's contact.")
class ScreenPopEvent(Enum):
    OFFERED = "OFFERED"
    CONNECTED = "CONNECTED"
    VERIFIED = "VERIFIED"
    ENDED = "ENDED"


@dataclass(frozen=True, slots=True)
class Pop:
    """One event for one subscriber, as the gateway hands it over: the contact re-read from the
    CCaaS system and its customers, loaded with that event's own loaders."""

    cursor: str
    event: str
    contact: records.Contact
    customers: tuple[records.Customer, ...]
    missed: bool = False
    """Events before this one are gone (the subscriber's cursor fell out of the window)."""


@strawberry.type(description="One event of the agent's own contact, with its customers.")
class ScreenPop:
    cursor: str = strawberry.field(description="Resume after this one: `screenPops(after:)`.")
    event: ScreenPopEvent
    missed: bool = strawberry.field(
        description="Events before this one are gone (the cursor fell out of the replay "
        "window): re-read the agent's state with a query."
    )
    interaction: Interaction
    customers: list[Customer] = strawberry.field(
        description="The customers matched for the contact, masked for the subscriber; the "
        "customer of the agent's own live, ID&V-passed contact gets the verified treatments."
    )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The calling agent's own contacts (the token's subject; workforce issuer "
        "only), over graphql-transport-ws with the token in `connection_init`."
    )
    async def screen_pops(
        self, info: Info, after: str | None = None
    ) -> AsyncGenerator[ScreenPop, None]:
        # closed with this resolver, however it ends: the feed's cleanup runs now, not when
        # the garbage collector gets to it
        async with aclosing(info.context.screen_pops(after)) as pops:
            async for pop in pops:
                yield ScreenPop(
                    cursor=pop.cursor,
                    event=ScreenPopEvent(pop.event),
                    missed=pop.missed,
                    interaction=Interaction.of(pop.contact, contact_owner(pop.contact)),
                    customers=[Customer.of(c) for c in pop.customers],
                )

    @strawberry.subscription(
        description="One customer's journey as contacts, cases, payments and fraud alerts "
        "arrive: whoever may read the customer by query, masked per event."
    )
    async def journey_updates(
        self, info: Info, customer_id: strawberry.ID, after: str | None = None
    ) -> AsyncGenerator[JourneyUpdate, None]:
        async with aclosing(info.context.journey_updates(customer_id, after)) as changes:
            async for change in changes:
                yield JourneyUpdate.of(change)

    @strawberry.subscription(
        description="One frame when the write is final (APPLIED or REJECTED), at once if it "
        "already is: the caller's own write (any, for a supervisor)."
    )
    async def write_completed(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[WriteResult, None]:
        async with aclosing(info.context.writes.completed(id)) as outcomes:
            async for outcome in outcomes:
                yield WriteResult.of(outcome)


def _records(objects: list[Customer]) -> list[records.Customer]:
    return [o.record for o in objects]


SCREEN_POP_BINDING: dict[str, Binding] = {
    "interaction": Child(lambda pop, args: pop.interaction.record),
    "customers": Child(lambda pop, args: _records(pop.customers)),
}
"""Compiled execution's view of the payload `screenPops` yields (schema/binding.py): its
objects are read as the records they were made of, so the plans of the query types (and their
owners, the same ones `Interaction.of` and `Customer.of` were given) project them."""
