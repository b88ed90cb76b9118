"""`Subscription.screenPops` (issue #14, "Events out"): the calling agent's own contacts as they
are offered, connected, verified and ended, each with the customers matched for it. The gateway
decides which events a subscriber gets and under which access each is read (its
`Context.screen_pops`); the schema only declares the shape and builds the objects, so masking
happens in the same wrappers as for queries."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from enum import Enum

import strawberry

from sources import records

from .context import Info
from .mutation import WriteResult
from .sensitive import contact_owner
from .types import Customer, Interaction

__all__ = ["Pop", "ScreenPop", "ScreenPopEvent", "Subscription"]


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


@strawberry.type(description="One event of the agent's own contact, with its customers.")
class ScreenPop:
    cursor: str = strawberry.field(description="Resume after this one: `screenPops(after:)`.")
    event: ScreenPopEvent
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
        async for pop in info.context.screen_pops(after):
            yield ScreenPop(
                cursor=pop.cursor,
                event=ScreenPopEvent(pop.event),
                interaction=Interaction.of(pop.contact, contact_owner(pop.contact)),
                customers=[Customer.of(c) for c in pop.customers],
            )

    @strawberry.subscription(
        description="One frame when the write is final (APPLIED or REJECTED), at once if it "
        "already is: the caller's own write (any, for a supervisor)."
    )
    async def write_completed(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[WriteResult, None]:
        async for outcome in info.context.writes.completed(id):
            yield WriteResult.of(outcome)
