"""The loop every subscription feed shares (`screenPops`, `journeyUpdates`): one place for the
rules of a subscription, so no feed has a copy of its own.

- who may subscribe at all: a caller with no role the policy knows reads nothing, and a role
  that sees only placeholders is served by query (placeholders are filled per operation);
- the broker's subscription from the `after` cursor (a cursor this gateway never handed out:
  BAD_USER_INPUT);
- the token's expiry ends the stream (TOKEN_EXPIRED); a subscriber that fell behind gets
  EVENTS_DROPPED with the cursor to resume from; a `Gap` (the cursor fell out of the replay
  window) makes the next frame say `missed`;
- per event, the feed decides what (if anything) the subscriber gets, with the event's own
  loaders and masking `Access`; the audit trail's place is reserved, the subscriber's data
  budget opened for the event (charged by masking as a query's is) and, once the frame is
  built, committed and the event's reads audited;
- every exit path (end, error, cancellation, a consumer that closes the stream) closes the
  broker's subscription, audits what was read and lets the feed drop what it kept.

The event's loaders and access live in a ContextVar (`CURRENT`) set just before the frame is
handed over: strawberry runs each subscription in its own task, so each has its own copy, and
the frame's fields are resolved in that task (or tasks it starts, which copy it) before the
loop is asked for the next event."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from graphql import GraphQLError

from gateway.auth.authenticator import Principal
from gateway.events.broker import Broker, Delivery, Gap, InvalidCursor, Overflow, Route
from gateway.events.mapping import CloudEvent
from gateway.events.reads import EventReads
from gateway.limits.admission import Admission
from gateway.masking.access import Access
from gateway.masking.guard import Guard
from gateway.observability import codes
from gateway.observability.telemetry import Telemetry
from gateway.observability.tracing import ActiveSpan
from gateway.observability.trail import event_lines
from resolvers import Loaders
from sources import Sources

__all__ = ["CURRENT", "Event", "Feed", "FeedContext", "Frame", "run"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Event:
    """What the frame being built may read, and under which access."""

    loaders: Loaders
    access: Access


CURRENT: ContextVar[Event | None] = ContextVar("subscription_event", default=None)


@dataclass(frozen=True, slots=True)
class Frame(Generic[T]):
    """One event for one subscriber: the value the schema wraps, read with `loaders` under
    `access`; `customers` ({CCaaS profile: CRM id}) names in the audit the customer of a read
    known only by its profile."""

    value: T
    loaders: Loaders
    access: Access
    customers: Mapping[str, str]


class Feed(Protocol[T]):
    """What one subscription adds to the loop: which events it shows, and how."""

    def wants(self, event: CloudEvent) -> bool:
        """Could this event be the subscriber's? Asked as the broker fans it out, without any
        read: what it declines is never queued for the subscription (with a thousand agents
        on a replica, an event naming one of them wakes one feed, not a thousand). `frame`
        still decides."""
        ...

    async def start(self) -> None:
        """Subscribed (events are kept for it from now on): read what the feed needs first;
        raise to refuse the subscription."""

    async def frame(self, delivery: Delivery, missed: bool) -> Frame[T] | None:
        """The subscriber's frame of this event (`missed`: events before it are gone), or
        None: not for this subscriber."""
        ...

    def built(self) -> None:
        """The last frame is built (its fields resolved): what it loaded is settled."""

    def close(self) -> None:
        """The subscription is over, however it ended: drop whatever was kept."""


class FeedContext(Protocol):
    broker: Broker
    sources: Sources
    guard: Guard
    reads: EventReads
    request_id: str
    client_request_id: str | None
    telemetry: Telemetry
    transport: str
    """websocket or sse (a metric's label)."""


def _refuse(message: str, code: str, **extensions: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, **extensions})


def admit(guard: Guard, principal: Principal) -> None:
    """Refuse, before any subscription or read, a caller who may read nothing real."""
    if not guard.policy.knows(principal.roles):
        raise _refuse("the token has no role this gateway knows: nothing may be read", "FORBIDDEN")
    if guard.policy.placeholders(principal.roles):
        raise _refuse("a role that sees placeholders only reads by query", "FORBIDDEN")


@dataclass(slots=True)
class _Pending:
    """A frame handed over and not audited yet."""

    access: Access
    customers: Mapping[str, str]
    admission: Admission


async def run(
    context: FeedContext,
    principal: Principal,
    after: str | None,
    operation: str,
    feed: Feed[T],
    route: Route | None = None,
) -> AsyncGenerator[T, None]:
    """The subscriber's frames, for as long as the token lasts (see the module's docstring).
    With a `route`, the events its router routes reach the feed only when they are the
    subscriber's (gateway/events/routes.py). `feed.close()` runs on every exit path, also when
    the subscription is refused."""
    try:
        admit(context.guard, principal)
        try:
            subscription = context.broker.subscribe(after, feed.wants, route)
        except InvalidCursor:
            raise _refuse("`after` is not a cursor of this gateway", "BAD_USER_INPUT") from None
    except BaseException:
        feed.close()
        raise
    pending: _Pending | None = None
    missed = False
    telemetry = context.telemetry
    tracing = telemetry.tracing
    delivering: ActiveSpan | None = None
    """The frame's span (tracing on): current while the frame is built, until it is written."""
    try:
        await feed.start()
        while True:
            try:
                async with asyncio.timeout(principal.expires_at - time.time()):
                    item = await anext(subscription)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise _refuse("the token has expired", codes.TOKEN_EXPIRED) from None
            if isinstance(item, Overflow):
                telemetry.metrics.dropped("overflow")
                raise _refuse(
                    "events were dropped: subscribe again after `resumeFrom`",
                    codes.EVENTS_DROPPED,
                    resumeFrom=item.resume_from,
                )
            if isinstance(item, Gap):
                missed = True  # said on the next frame the subscriber gets, whichever it is
                continue
            started_ns = 0
            if tracing.enabled:  # the feed's reads traced under the webhook's ingest span
                started_ns = time.time_ns()
                under = tracing.within(item.event.traceparent)
                try:
                    frame = await feed.frame(item, missed)
                finally:
                    under.end()
            else:
                frame = await feed.frame(item, missed)
            if frame is None:
                continue
            if tracing.enabled:  # linked to the webhook's ingest by the event's traceparent
                delivering = tracing.delivery(item.event.traceparent, started_ns)
                delivering.set("switchboard.event.type", item.event.type)
            if not context.guard.audit.reserve():
                raise _refuse(
                    "the audit trail is unavailable: subscribe again shortly",
                    codes.AUDIT_UNAVAILABLE,
                )
            admission = context.guard.admission()
            pending = _Pending(frame.access, frame.customers, admission)
            await admission.open_budget(principal)
            frame.access.budget = admission.ledger
            missed = False
            CURRENT.set(Event(frame.loaders, frame.access))
            yield frame.value
            # asked for the next: this frame is built and written, its reads are all known
            CURRENT.set(None)
            telemetry.metrics.delivered(context.transport, item.event.received)
            if delivering is not None:
                delivering.end()
                delivering = None
            feed.built()
            done = pending
            pending = None
            await _audit(context, principal, operation, done)
    finally:
        CURRENT.set(None)
        if delivering is not None:  # the frame was never written
            delivering.end(error=True)
        feed.close()
        await subscription.aclose()
        if pending is not None:
            await _audit(context, principal, operation, pending)


async def _audit(
    context: FeedContext, principal: Principal, operation: str, pending: _Pending
) -> None:
    """The event's sensitive reads and its limit alerts, as a query's are written (the place
    was reserved before the frame was handed over: submitted whatever happens)."""
    lines = b""
    try:
        await pending.admission.commit(principal)
        for alert in pending.admission.alerts:
            context.telemetry.metrics.limit_alert(alert["type"])
        lines = pending.access.audit_lines(
            context.request_id, operation, context.client_request_id, pending.customers
        )
        lines += event_lines(
            principal,
            context.request_id,
            context.client_request_id,
            operation,
            pending.admission.alerts,
        )
    finally:
        await context.guard.audit.submit(lines)
