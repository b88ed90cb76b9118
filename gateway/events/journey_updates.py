"""`Subscription.journeyUpdates`, the gateway's side: one customer's journey as events arrive.

Who may subscribe is who may read the customer by query: any role the policy knows (the feed's
`admit`), the customer read once at subscription (unknown: NOT_FOUND; malformed: BAD_USER_INPUT)
to learn the ids its events name. Which events are the customer's:
- `interaction.*` and `customer.verified` whose CCaaS contact belongs to the customer's profile
  (the contact read once per subscription: a contact's profile never changes);
- `case.*` naming the customer's CRM id;
- `payment.posted` and `fraud.alert_raised` naming the customer's core party.

Every event the customer's is read afresh (fresh loaders: the customer re-read, its ids checked
again against the event's) and masked, audited and charged to the data budget per subscriber
per event by the shared loop (gateway/events/feed.py). No interaction is named, so nobody is
verified: the unverified treatments of the subscriber's roles, as a query without
X-Interaction-Id gets."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from graphql import GraphQLError

from gateway.auth.authenticator import Principal
from gateway.events.broker import Delivery
from gateway.events.feed import FeedContext, Frame, run
from gateway.events.mapping import CloudEvent
from gateway.masking.access import Access
from gateway.masking.verification import Verification
from resolvers import Loaders, ResolverError, valid_customer_id
from schema import Change
from sources import SourceError
from sources.records import Customer

__all__ = ["CAUSES", "journey_updates"]

log = logging.getLogger("switchboard.events")

CAUSES = {
    "interaction.offered": "CONTACT",
    "interaction.connected": "CONTACT",
    "customer.verified": "CONTACT",
    "interaction.ended": "CONTACT",
    "interaction.completed": "CONTACT",
    "interaction.dispositioned": "CONTACT",  # a write-back (gateway/writes/settled.py)
    "case.created": "CASE",
    "case.updated": "CASE",
    "payment.posted": "PAYMENT",
    "fraud.alert_raised": "FRAUD_ALERT",
}
"""The canonical event types a journey is made of, and their `JourneyCause`."""

KNOWN_CONTACTS = 64
"""Contacts per subscription whose profile is remembered (their later events cost no read)."""


def journey_updates(
    context: FeedContext, principal: Principal, customer_id: str, after: str | None
) -> AsyncGenerator[Change, None]:
    return run(
        context, principal, after, "journeyUpdates", _Journey(context, principal, customer_id)
    )


@dataclass(frozen=True, slots=True)
class _Ids:
    """What the customer's events name it by."""

    crm: str
    party: str | None
    profile: str | None

    @classmethod
    def of(cls, customer: Customer) -> _Ids:
        return cls(customer.id, customer.core_party_id, customer.ccaas_profile_id)


class _Journey:
    def __init__(self, context: FeedContext, principal: Principal, customer_id: str) -> None:
        self._context = context
        self._principal = principal
        self._asked = customer_id
        self._ids: _Ids | None = None
        self._contacts: dict[str, str] = {}
        """{contact id: its CCaaS profile}, bounded (oldest forgotten first)."""

    async def start(self) -> None:
        try:
            customer = await Loaders(self._context.sources).customer.load(
                valid_customer_id(self._asked)
            )
        except ResolverError as exc:
            raise GraphQLError(str(exc), extensions={"code": exc.code}) from None
        except SourceError as exc:
            raise GraphQLError(
                "the customer could not be read: subscribe again shortly",
                extensions={"code": exc.code},
            ) from None
        if customer is None:
            raise GraphQLError(
                f"no customer with id {self._asked!r}", extensions={"code": "NOT_FOUND"}
            )
        self._ids = _Ids.of(customer)

    def wants(self, event: CloudEvent) -> bool:
        """Of a kind a journey shows (whose customer it is takes a read: `frame` decides)."""
        return event.type in CAUSES

    async def frame(self, delivery: Delivery, missed: bool) -> Frame[Change] | None:
        event = delivery.event
        cause = CAUSES.get(event.type)
        if cause is None or self._ids is None:
            return None
        loaders = Loaders(self._context.sources)
        try:
            if not await self._names(delivery.cursor, event, cause, self._ids):
                return None
            customer = await loaders.customer.load(self._ids.crm)
            if customer is None:
                return None
            self._ids = ids = _Ids.of(customer)
            if not await self._names(delivery.cursor, event, cause, ids):  # ids changed meanwhile
                return None
        except SourceError as exc:
            log.warning("journey update skipped: %s could not be read (%s)", event.id, exc.code)
            return None
        return Frame(
            Change(delivery.cursor, missed, cause, customer),
            loaders,
            _access(self._context, self._principal),
            {ids.profile: ids.crm} if ids.profile else {},
        )

    async def _names(self, cursor: str, event: CloudEvent, cause: str, ids: _Ids) -> bool:
        """Does the event name the customer? (A contact's profile is read once per event per
        replica, whoever asks: gateway/events/reads.py.)"""
        if cause == "CASE":
            return event.data.get("customerId") == ids.crm
        if cause != "CONTACT":
            return ids.party is not None and event.data.get("partyId") == ids.party
        if ids.profile is None:
            return False
        profile = self._contacts.get(event.subject)
        if profile is None:
            contact = await self._context.reads.contact(cursor, event.subject)
            if contact is None or contact.profile_id is None:
                return False  # an unknown caller's contact names no customer's profile
            profile = self._contacts[event.subject] = contact.profile_id
            while len(self._contacts) > KNOWN_CONTACTS:
                del self._contacts[next(iter(self._contacts))]
        return profile == ids.profile

    def built(self) -> None:
        """Nothing is kept between events."""

    def close(self) -> None:
        self._contacts.clear()


def _access(context: FeedContext, principal: Principal) -> Access:
    """A fresh Access for one event: no interaction named, nobody verified."""
    guard = context.guard
    verification = Verification(
        None, principal.subject, may_verify=principal.may_verify, skipped="not_needed"
    )
    return Access(guard.policy, guard.masker, principal, verification, interaction_id=None)
