"""`Subscription.screenPops`, the gateway's side: the WebSocket's context, and the feed that
turns the broker's canonical events into one subscriber's screen pops.

One context per socket (strawberry builds it once, before `connection_init`), shared by the
socket's subscriptions; each subscription runs in its own task. What must be per event, the
loaders (their caches) and the masking `Access`, is set in a ContextVar by the feed just before
it hands an event over: strawberry runs each subscription in its own task, so each has its own
copy of that variable, and the event's fields are resolved in that task (or in tasks it starts,
which copy it) before the feed is asked for the next event. Two subscriptions on one socket
never see each other's access.

Authorisation is per event: the event's agent must be the subscriber, the CCaaS contact is
re-read (its agent again the subscriber), masking and verification are decided from that read,
and the event's sensitive reads are audited once its frame is built. The feed ends at the
token's expiry (TOKEN_EXPIRED; the socket then closes with 4403, `SocketContext.watch`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from gateway.auth.authenticator import Principal
from gateway.events.broker import Broker, Delivery, Gap, InvalidCursor, Overflow
from gateway.masking.access import Access
from gateway.masking.event_access import event_access
from gateway.masking.guard import Guard
from gateway.observability import codes
from resolvers import Loaders
from schema import Pop, WriteApi
from sources import SourceError, Sources
from sources.records import Contact, Customer

__all__ = ["EVENTS", "EXPIRY_CLOSE_GRACE", "SocketContext", "screen_pops"]

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


@dataclass(frozen=True, slots=True)
class _Event:
    loaders: Loaders
    access: Access


_current: ContextVar[_Event | None] = ContextVar("screen_pop_event", default=None)


class SocketContext:
    """The context of one WebSocket: who (once `connection_init` is authenticated) and what
    the current event of the running subscription may show."""

    def __init__(
        self, connection: HTTPConnection, broker: Broker, sources: Sources, guard: Guard
    ) -> None:
        # a WebSocket, or the POST of an SSE stream (gateway/http/sse.py)
        self.request = connection
        self.response = connection
        self.broker = broker
        self.sources = sources
        self.guard = guard
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

    def screen_pops(self, after: str | None) -> AsyncIterator[Pop]:
        if self.principal is None:  # connection_init authenticates before any subscribe
            raise GraphQLError("not authenticated", extensions={"code": codes.UNAUTHENTICATED})
        resumed = self.resume_after if self.resume_after is not None else after
        return screen_pops(self, self.principal, resumed)


async def screen_pops(
    context: SocketContext, principal: Principal, after: str | None
) -> AsyncIterator[Pop]:
    if not principal.may_verify:
        # a partner IdP may mint any `sub`: only the workforce's subjects are agents
        raise GraphQLError(
            "screen pops are for the workforce's agents", extensions={"code": codes.FORBIDDEN}
        )
    try:
        subscription = context.broker.subscribe(after)
    except InvalidCursor:
        raise GraphQLError(
            "`after` is not a cursor of this gateway", extensions={"code": "BAD_USER_INPUT"}
        ) from None
    pending: tuple[Access, dict[str, str]] | None = None  # the last event's, audited on resume
    try:
        while True:
            try:
                async with asyncio.timeout(principal.expires_at - time.time()):
                    item = await anext(subscription)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise GraphQLError(
                    "the token has expired", extensions={"code": codes.TOKEN_EXPIRED}
                ) from None
            if isinstance(item, Overflow):
                raise GraphQLError(
                    "events were dropped: subscribe again after `resumeFrom`",
                    extensions={"code": codes.EVENTS_DROPPED, "resumeFrom": item.resume_from},
                )
            if isinstance(item, Gap) or not _for(item, principal):
                continue
            loaders = Loaders(context.sources)
            found = await _reread(loaders, item.event.subject, principal)
            if found is None:
                continue
            contact, customers = found
            access = await event_access(context.guard, principal, contact)
            if not context.guard.audit.reserve():
                raise GraphQLError(
                    "the audit trail is unavailable: subscribe again shortly",
                    extensions={"code": codes.AUDIT_UNAVAILABLE},
                )
            pending = (access, {c.ccaas_profile_id: c.id for c in customers if c.ccaas_profile_id})
            _current.set(_Event(loaders, access))
            yield Pop(item.cursor, EVENTS[item.event.type], contact, customers)
            # asked for the next: this event's frame is built, its reads are all known
            _current.set(None)
            await _audit(context, pending)
            pending = None
    finally:
        _current.set(None)
        await subscription.aclose()
        if pending is not None:
            await _audit(context, pending)


def _for(delivery: Delivery, principal: Principal) -> bool:
    """A contact event of the subscriber's own (an offered contact names no agent yet: the
    CCaaS re-read decides)."""
    event = delivery.event
    agent = event.data.get("agentId")
    return event.type in EVENTS and (agent is None or agent == principal.subject)


async def _reread(
    loaders: Loaders, contact_id: str, principal: Principal
) -> tuple[Contact, tuple[Customer, ...]] | None:
    """The contact as the CCaaS system has it now, if it is the subscriber's, and its customer;
    None (no pop) when it is not, or cannot be read."""
    try:
        contact = await loaders.contact.load(contact_id)
        if contact is None or contact.agent_id != principal.subject:
            return None
        customer = await loaders.customer_by_ccaas_profile.load(contact.profile_id)
    except SourceError as exc:
        log.warning("screen pop skipped: %s could not be read (%s)", contact_id, exc.code)
        return None
    return contact, (() if customer is None else (customer,))


async def _audit(context: SocketContext, pending: tuple[Access, dict[str, str]]) -> None:
    access, customers = pending
    lines = access.audit_lines(
        context.request_id, "screenPops", context.client_request_id, customers
    )
    await context.guard.audit.submit(lines)
