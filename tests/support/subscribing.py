"""Subscriptions run in-process, the way the gateway's WebSocket runs them but without the
socket: the gateway's own schema (taken from `create_app`, so its extensions, limits, masking
and executor are production's), a `SocketContext` per subscription, and one broker the test
publishes canonical events to. Both executions can subscribe on the same broker, so the same
delivery (the same cursor) reaches both, and each frame is compared whole.

Shared by tests/differential/test_subscriptions.py and bench/frames.py (as
tests.support.processes is: the tests must not depend on the benchmark package)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.types.execution import PreExecutionError

from gateway.app import create_app
from gateway.auth.authenticator import Principal
from gateway.config import build_config
from gateway.demo import demo_config
from gateway.events.broker import InProcessBroker
from gateway.events.execute import Subscriptions
from gateway.events.mapping import CloudEvent
from gateway.events.reads import EventReads
from gateway.events.screen_pops import SocketContext
from gateway.http.view import SubscriptionView
from gateway.masking.guard import Guard
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from gateway.observability.audit import AuditLog
from gateway.observability.metrics import Metrics
from sources import Sources

__all__ = [
    "EXECUTIONS",
    "Side",
    "Subscribed",
    "contact_event",
    "frame_of",
    "open_sources",
    "principal",
    "sides",
    "until",
]

EXECUTIONS = ("compiled", "standard")
HASH_KEY = b"subscription-test-hash-key"
_ids = itertools.count(1)


@dataclass
class Side:
    """One execution's gateway, as far as a subscription reaches: its schema and guard (its
    audit lines kept), the shared sources and broker."""

    execution: str
    subscriptions: Subscriptions
    guard: Guard
    sources: Sources
    broker: InProcessBroker
    metrics: Metrics
    audit: list[dict[str, Any]] = field(default_factory=list)
    reads: EventReads = field(init=False)

    def __post_init__(self) -> None:
        self.reads = EventReads(self.sources)

    async def subscribe(
        self,
        principal: Principal,
        query: str,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
    ) -> Subscribed:
        """The stream strawberry's graphql-transport-ws handler iterates (what it gets from
        the view's `schema.stream`: gateway/events/execute.py), for an authenticated socket of
        `principal`."""
        socket = SimpleNamespace(scope={"state": {"request_id": f"sub-{next(_ids)}"}})
        context = SocketContext(
            cast(WebSocket, socket), self.broker, self.sources, self.guard, self.reads
        )
        context.principal = principal  # what `watch` sets, without the expiry watchdog
        stream: AsyncIterator[Any] = await self.subscriptions.stream(
            query,
            variable_values=variables,
            context_value=context,
            operation_name=operation_name,
        )
        return Subscribed(stream)

    def operations(self, execution: str, reason: str = "") -> float:
        """How many operations (a subscription: events) ran on `execution`."""
        labels = {"execution": execution, "reason": reason}
        value = self.metrics.registry.get_sample_value("switchboard_operations_total", labels)
        return value or 0.0


class Subscribed:
    """One subscription's frames, asked for one at a time, as the WebSocket handler's task
    does; closed as that task is when the client leaves: cancelled while it waits."""

    def __init__(self, stream: AsyncIterator[Any]) -> None:
        self.stream = stream
        self.waiting: asyncio.Future[Any] | None = None

    def ask(self) -> asyncio.Future[Any]:
        """The next frame, asked for now (the subscription starts at the first ask)."""
        assert self.waiting is None or self.waiting.done()
        self.waiting = asyncio.ensure_future(anext(self.stream))
        return self.waiting

    def answered(self) -> bool:
        """The frame asked for is here (or the stream ended)."""
        return self.waiting is not None and self.waiting.done()

    async def frame(self) -> dict[str, Any]:
        waiting = self.waiting if self.waiting is not None else self.ask()
        self.waiting = None
        return frame_of(await waiting)

    async def close(self) -> None:
        if self.waiting is not None and not self.waiting.done():
            self.waiting.cancel()
            await asyncio.gather(self.waiting, return_exceptions=True)
        aclose = getattr(self.stream, "aclose", None)
        if aclose is not None:
            await aclose()


def open_sources(sandbox: str) -> Sources:
    """The sandbox's systems, shared by both sides: circuits that never open and no retries
    (as tests/differential/conftest.py's gateways), so one side's failed calls do not change
    what the other's get."""
    raw = demo_config(0, int(sandbox.rsplit(":", 1)[1]))
    for source in raw["sources"].values():
        source["breaker_min_calls"] = 10_000
        source["retries"] = 0
    return Sources.open(build_config(raw, env={}).sources)


def sides(sandbox: str, broker: InProcessBroker, sources: Sources) -> dict[str, Side]:
    """A gateway per execution, configured as the demo's (trusted documents off, so any
    document may be subscribed), sharing `sources` and `broker`; each its own audit trail."""
    port = int(sandbox.rsplit(":", 1)[1])
    made = {}
    for execution in EXECUTIONS:
        raw = demo_config(0, port, execution)
        raw["trusted_documents"] = {"roles": []}
        raw["rate_limit"] = {"enabled": False}
        audit: list[dict[str, Any]] = []

        def sink(lines: bytes, audit: list[dict[str, Any]] = audit) -> None:
            audit.extend(json.loads(line) for line in lines.splitlines())

        guard = Guard(Policy.load(), Masker(HASH_KEY), AuditLog(sink))
        app = create_app(build_config(raw, env={}), sources=sources, guard=guard)
        view = next(
            r.app
            for r in app.routes
            if isinstance(r, WebSocketRoute) and isinstance(r.app, SubscriptionView)
        )
        metrics = app.state.metrics
        made[execution] = Side(
            execution, view.subscriptions, guard, sources, broker, metrics, audit
        )
    return made


def contact_event(kind: str, contact_id: str, agent: str | None) -> CloudEvent:
    """A canonical contact event, as the CCaaS webhooks map to (gateway/events/mapping.py)."""
    return CloudEvent(
        id=f"evt-{next(_ids)}",
        source="switchboard/ccaas",
        type=kind,
        time="2026-12-06T04:00:00Z",
        subject=contact_id,
        data={} if agent is None else {"agentId": agent},
    )


def frame_of(result: Any) -> dict[str, Any]:
    """What graphql-transport-ws sends for a result: a `next` frame's payload
    (strawberry's `Operation.send_next`), or an `error` frame's (before the first result)."""
    if isinstance(result, PreExecutionError):
        return {"error": [e.formatted for e in result.errors or ()]}
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [e.formatted for e in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return payload


def principal(subject: str, roles: frozenset[str], ttl: float = 3600.0) -> Principal:
    return Principal(subject, roles, "https://idp.test", time.time() + ttl, True)


async def until(condition: Callable[[], bool]) -> None:
    """Steps of the loop, then short waits (a back end answering), until `condition`."""
    for step in range(2000):
        if condition():
            return
        await asyncio.sleep(0 if step < 100 else 0.01)
    raise AssertionError("not reached")
