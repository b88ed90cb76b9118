"""A screen-pop feed's socket context without a socket: what `SocketContext` gives the feeds
(broker, sources, guard, the replica's shared reads), for tests and bench.events_fanout that
run real feeds over fake back ends."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

from gateway.events.broker import Broker
from gateway.events.reads import EventReads
from gateway.events.screen_pops import SocketContext
from gateway.masking.guard import Guard
from gateway.observability.telemetry import UNWATCHED
from sources import Sources


def feed_context(
    broker: Broker, sources: object, guard: Guard, request_id: str = "r"
) -> SocketContext:
    """`sources` is a fake with the clients the feeds call (typed loosely, as fakes are)."""
    return cast(
        SocketContext,
        SimpleNamespace(
            broker=broker,
            sources=sources,
            guard=guard,
            reads=EventReads(cast(Sources, sources)),
            request_id=request_id,
            client_request_id=None,
            telemetry=UNWATCHED,
            transport="websocket",
        ),
    )
