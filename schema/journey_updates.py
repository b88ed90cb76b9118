"""`Subscription.journeyUpdates` (issue #14, "Events out"): one customer's journey as contacts,
cases, payments and fraud alerts arrive. Each frame carries the whole `Customer`, read afresh
for that event under the subscriber's policy, rather than only its `Journey`: a desktop
re-renders the timeline (`customer { journey { events { ... } } }`) and whatever else it shows
of the customer (open cases, a blocked card, the name in the header) from one selection, and
every sensitive value keeps its customer as owner for masking, verification and audit. The
gateway decides which events are the customer's (`Context.journey_updates`); the schema only
declares the shape."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import strawberry

from sources import records

from .types import Customer

__all__ = ["Change", "JourneyCause", "JourneyUpdate"]


@strawberry.enum(description="What arrived for the customer.")
class JourneyCause(Enum):
    CONTACT = "CONTACT"
    CASE = "CASE"
    PAYMENT = "PAYMENT"
    FRAUD_ALERT = "FRAUD_ALERT"


@dataclass(frozen=True, slots=True)
class Change:
    """One event of the customer's, as the gateway hands it over: the customer re-read with
    that event's own loaders."""

    cursor: str
    missed: bool
    cause: str
    customer: records.Customer


@strawberry.type(description="Something arrived for the customer: its journey, read afresh.")
class JourneyUpdate:
    cursor: str = strawberry.field(description="Resume after this one: `journeyUpdates(after:)`.")
    missed: bool = strawberry.field(
        description="Events before this one are gone (the cursor fell out of the replay "
        "window): re-read the customer with a query."
    )
    cause: JourneyCause
    customer: Customer = strawberry.field(
        description="The customer as of this event, masked for the subscriber: select "
        "`journey { events { ... } }` to re-render the timeline."
    )

    @classmethod
    def of(cls, change: Change) -> JourneyUpdate:
        return cls(
            cursor=change.cursor,
            missed=change.missed,
            cause=JourneyCause(change.cause),
            customer=Customer.of(change.customer),
        )
