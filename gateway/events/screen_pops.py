"""`Subscription.screenPops`, the gateway's side: the WebSocket's context, and the feed that
turns the broker's canonical events into one subscriber's screen pops.

One context per socket (strawberry builds it once, before `connection_init`), shared by the
socket's subscriptions; each subscription runs in its own task. What must be per event, the
loaders (their caches) and the masking `Access`, is set in a ContextVar by the shared loop
(gateway/events/feed.py) just before it hands an event over: strawberry runs each subscription
in its own task, so each has its own copy of that variable, and the event's fields are resolved
in that task (or in tasks it starts, which copy it) before the loop is asked for the next event.
Two subscriptions on one socket never see each other's access.

Authorisation is per event: the event's agent must be the subscriber, the CCaaS contact is
re-read (its agent again the subscriber), masking and verification are decided from that read,
and the event's sensitive reads are audited once its frame is built. The context read at
OFFERED is kept for the contact's later events (`_ScreenPops`). The feed ends at the token's
expiry (TOKEN_EXPIRED; the socket then closes with 4403, `SocketContext.watch`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import msgspec
from graphql import GraphQLError
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from gateway.auth.authenticator import Principal
from gateway.events.broker import Broker, Delivery, Route
from gateway.events.feed import CURRENT, Frame, run
from gateway.events.journey_updates import journey_updates
from gateway.events.mapping import CloudEvent
from gateway.events.reads import EventReads
from gateway.masking.access import Access
from gateway.masking.event_access import event_access
from gateway.masking.guard import Guard
from gateway.masking.verification import verifier
from gateway.observability import codes
from gateway.observability.telemetry import UNWATCHED, Telemetry
from resolvers import Loaders
from resolvers.callers import callers
from schema import Change, Pop, WriteApi
from sources import SourceError, Sources
from sources.records import Contact, Customer

__all__ = ["EVENTS", "EXPIRY_CLOSE_GRACE", "MAX_PRIMED", "SocketContext", "primed", "screen_pops"]

log = logging.getLogger("switchboard.events")

EVENTS = {
    "interaction.offered": "OFFERED",
    "interaction.connected": "CONNECTED",
    "customer.verified": "VERIFIED",
    "interaction.ended": "ENDED",
}
"""The canonical event types a screen pop is made of, and their `ScreenPopEvent`."""

EXPIRY_CLOSE_GRACE = 0.5
"""Seconds between a token's expiry (each subscription's TOKEN_EXPIRED frame) and the socket's
close with 4403: time for those frames to be written first."""


_current = CURRENT


class SocketContext:
    """The context of one WebSocket: who (once `connection_init` is authenticated) and what
    the current event of the running subscription may show."""

    def __init__(
        self,
        connection: HTTPConnection,
        broker: Broker,
        sources: Sources,
        guard: Guard,
        reads: EventReads,
        telemetry: Telemetry | None = None,
    ) -> None:
        # a WebSocket, or the POST of an SSE stream (gateway/http/sse.py)
        self.request = connection
        self.response = connection
        self.broker = broker
        self.sources = sources
        self.guard = guard
        self.reads = reads
        """The replica's one read per event, shared by its subscribers (gateway/events/reads.py)."""
        self.telemetry = telemetry or UNWATCHED
        self.transport = "websocket" if isinstance(connection, WebSocket) else "sse"
        self.principal: Principal | None = None
        self.connection_params: dict[str, Any] | None = None
        self.resume_after: str | None = None
        """The SSE client's `Last-Event-ID`: wins over the document's `after`."""
        state = connection.scope.get("state", {})
        self.request_id: str = state.get("request_id", "")
        self.client_request_id: str | None = state.get("client_request_id")
        self.may_introspect = False
        self._watchdog: asyncio.Task[None] | None = None
        self.writes: WriteApi | None = None
        """`writeCompleted`'s (set by SubscriptionView, gateway/writes/api.py)."""

    @property
    def loaders(self) -> Loaders:
        event = _current.get()
        if event is None:
            # a query or mutation sent over the socket (strawberry would run one): its root
            # field reads the loaders first, and is refused here
            raise GraphQLError(
                "only subscriptions are served over the WebSocket: send queries by HTTP POST",
                extensions={"code": codes.BAD_REQUEST},
            )
        return event.loaders

    @property
    def access(self) -> Access | None:
        """The current event's (None between events: nothing is read then)."""
        event = _current.get()
        return None if event is None else event.access

    async def ready(self) -> None:
        """The event's verification was settled before it was handed over."""

    def watch(self, principal: Principal) -> None:
        """Authenticated: close the socket with 4403 once the token has expired."""
        self.principal = principal
        self._watchdog = asyncio.ensure_future(self._expire(principal.expires_at))

    async def _expire(self, at: float) -> None:
        await asyncio.sleep(max(at - time.time(), 0) + EXPIRY_CLOSE_GRACE)
        assert isinstance(self.request, WebSocket)  # SSE streams just end (their feed does)
        with contextlib.suppress(RuntimeError, OSError):  # already closed
            await self.request.close(4403, "TOKEN_EXPIRED")

    def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()

    def screen_pops(self, after: str | None) -> AsyncGenerator[Pop, None]:
        return screen_pops(self, self._subscriber(), self._resumed(after))

    def journey_updates(self, customer_id: str, after: str | None) -> AsyncGenerator[Change, None]:
        return journey_updates(self, self._subscriber(), customer_id, self._resumed(after))

    def _subscriber(self) -> Principal:
        if self.principal is None:  # connection_init authenticates before any subscribe
            raise GraphQLError("not authenticated", extensions={"code": codes.UNAUTHENTICATED})
        return self.principal

    def _resumed(self, after: str | None) -> str | None:
        """The SSE client's `Last-Event-ID` wins over the document's `after`."""
        return self.resume_after if self.resume_after is not None else after


async def screen_pops(
    context: SocketContext, principal: Principal, after: str | None
) -> AsyncGenerator[Pop, None]:
    if not principal.may_verify:
        # a partner IdP may mint any `sub`: only the workforce's subjects are agents
        raise GraphQLError(
            "screen pops are for the workforce's agents", extensions={"code": codes.FORBIDDEN}
        )
    feed = _ScreenPops(context, principal)
    # an offered contact names no agent: the replica's one read of it finds the agent, and only
    # that agent's feeds get it (gateway/events/routes.py)
    route = Route(context.reads, principal.identity)
    stream = run(context, principal, after, "screenPops", feed, route)
    async with contextlib.aclosing(stream) as pops:
        async for pop in pops:
            yield pop


MAX_PRIMED = 3
"""Contacts per subscription whose context is kept between events: an agent on a call and a
couple of chats. Past it the oldest is dropped (its next event re-reads everything)."""


@dataclass(frozen=True, slots=True)
class _Primed:
    """A contact's context as its last frame read it: the CCaaS contact, its customers and the
    loaders that hold their records (raw records: masking happens when a field is resolved,
    under each event's own access)."""

    loaders: Loaders
    contact: Contact
    customers: tuple[Customer, ...]


_LIVE: set[_ScreenPops] = set()
"""The screen-pop feeds running in this process (one per subscription)."""


def primed() -> int:
    """Contact contexts kept by every running screen-pop subscription: none is left once its
    subscription is over, however it ended."""
    return sum(len(feed._primed) for feed in list(_LIVE))


class _ScreenPops:
    """One subscriber's screen pops. Context is fetched at OFFERED and kept (bounded, per
    subscription, never shared) while the contact is live: CONNECTED and ENDED are derived from
    the kept CCaaS read and the event's own agent (no back-end call: derived states only take
    access away or keep it); VERIFIED re-reads the CCaaS contact (the event alone is not the
    proof) and reuses the customers' loaders."""

    def __init__(self, context: SocketContext, principal: Principal) -> None:
        self._context = context
        self._principal = principal
        self._primed: dict[str, _Primed] = {}
        _LIVE.add(self)
        self._last: tuple[str, str, _Primed] | None = None
        """The frame handed over last: (its event, its contact id, its context)."""

    async def start(self) -> None:
        """Nothing to read before the first event."""

    def wants(self, event: CloudEvent) -> bool:
        return _for(event, self._principal)

    async def frame(self, delivery: Delivery, missed: bool) -> Frame[Pop] | None:
        self._last = None
        event = delivery.event
        if not _for(event, self._principal):
            return None
        kind = EVENTS[event.type]
        found = self._derived(kind, event)
        if found is None:
            found = await self._reread(kind, delivery.cursor, event.subject)
        if found is None:
            self._primed.pop(event.subject, None)
            return None
        access = await event_access(self._context.guard, self._principal, _verifier(found))
        self._last = (kind, event.subject, found)
        return Frame(
            Pop(delivery.cursor, kind, found.contact, found.customers, missed),
            found.loaders,
            access,
            {c.ccaas_profile_id: c.id for c in found.customers if c.ccaas_profile_id},
        )

    def _derived(self, kind: str, event: CloudEvent) -> _Primed | None:
        """CONNECTED or ENDED of a contact whose last CCaaS read made it the subscriber's, live:
        its new state from the event, which must name the subscriber."""
        agent = event.data.get("agentId")
        primed = self._primed.get(event.subject)
        if (
            primed is None
            or kind not in ("CONNECTED", "ENDED")
            or agent != self._principal.subject
            or primed.contact.ended_at is not None
        ):
            return None
        contact = primed.contact
        if kind == "CONNECTED":
            contact = msgspec.structs.replace(contact, state="CONNECTED", agent_id=agent)
        else:
            contact = msgspec.structs.replace(contact, state="ENDED", ended_at=_time(event.time))
        return replace(primed, contact=contact)

    async def _reread(self, kind: str, cursor: str, contact_id: str) -> _Primed | None:
        """The contact as the CCaaS system has it now (read once for this event on this
        replica, whoever asks), if it is the subscriber's, with its customers (its profile's,
        else the phone lookup of its ANI: resolvers/callers.py): those of the kept context
        when it is the same caller's."""
        try:
            contact = await self._context.reads.contact(cursor, contact_id)
            if contact is None or contact.agent_id != self._principal.subject:
                return None  # a replayed offered contact is asked about by each feed: cheaply
            loaders = Loaders(self._context.sources)
            loaders.contact.prime(contact_id, contact)
            primed = self._primed.get(contact_id)
            if kind == "VERIFIED" and primed and _same_caller(primed.contact, contact):
                return replace(primed, contact=contact)
            customers = await callers(loaders, contact)
        except SourceError as exc:
            log.warning("screen pop skipped: %s could not be read (%s)", contact_id, exc.code)
            return None
        return _Primed(loaders, contact, customers)

    def built(self) -> None:
        """Keep the context of a live contact whose frame read everything it asked for; an
        ended contact's is dropped."""
        if self._last is None:
            return
        kind, contact_id, primed = self._last
        self._last = None
        self._primed.pop(contact_id, None)  # re-inserted newest
        if kind == "ENDED" or primed.contact.ended_at is not None or primed.loaders.failed:
            return
        self._primed[contact_id] = primed
        while len(self._primed) > MAX_PRIMED:
            del self._primed[next(iter(self._primed))]

    def close(self) -> None:
        self._last = None
        self._primed.clear()
        _LIVE.discard(self)


def _time(text: str) -> datetime:
    """The event's time (mapping.py normalised it to ISO 8601 in UTC); now if it will not parse."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return datetime.now(UTC)


def _verifier(found: _Primed) -> Contact:
    """The contact as its frame's verification sees it (`verifier`, the rule a request's
    `extensions.verification` follows): its customers are `callers()`', which asked the CRM who
    links its profile, so a profile none of them has verifies nobody and the frame says
    `no_profile` rather than `verified` (README "Events out")."""
    return verifier(found.contact, found.customers, asked=True)


def _same_caller(kept: Contact, now: Contact) -> bool:
    """The kept customers are still the contact's: same profile and same ANI (what they were
    looked up by)."""
    return kept.profile_id == now.profile_id and kept.ani == now.ani


def _for(event: CloudEvent, principal: Principal) -> bool:
    """A contact event of the subscriber's own (an offered contact names no agent yet: the
    CCaaS re-read decides)."""
    agent = event.data.get("agentId")
    return event.type in EVENTS and (agent is None or agent == principal.subject)
