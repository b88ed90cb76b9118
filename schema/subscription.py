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

from .binding import Binding, Child
from .context import Info
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
        pops = info.context.screen_pops(after)
        try:
            async for pop in pops:
                yield ScreenPop(
                    cursor=pop.cursor,
                    event=ScreenPopEvent(pop.event),
                    interaction=Interaction.of(pop.contact, contact_owner(pop.contact)),
                    customers=[Customer.of(c) for c in pop.customers],
                )
        finally:
            # closed with this stream (a socket cut while a frame is built): the feed's broker
            # subscription and audit are let go now, not whenever the garbage collector finds
            # it (`async for` does not close what it iterates)
            close = getattr(pops, "aclose", None)
            if close is not None:
                await close()


def _records(objects: list[Customer]) -> list[records.Customer]:
    return [o.record for o in objects]


SCREEN_POP_BINDING: dict[str, Binding] = {
    "interaction": Child(lambda pop, args: pop.interaction.record),
    "customers": Child(lambda pop, args: _records(pop.customers)),
}
"""Compiled execution's view of the payload `screenPops` yields (schema/binding.py): its
objects are read as the records they were made of, so the plans of the query types (and their
owners, the same ones `Interaction.of` and `Customer.of` were given) project them."""
