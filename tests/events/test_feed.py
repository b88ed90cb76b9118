"""The loop every subscription feed shares (gateway/events/feed.py), without sockets: a gap in
the replay window is said on the next frame (`missed`), and each frame is audited."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any, cast

from gateway.auth.authenticator import Principal
from gateway.events.broker import Delivery, InProcessBroker
from gateway.events.feed import FeedContext, Frame, run
from gateway.events.mapping import CloudEvent
from gateway.masking.access import Access
from gateway.masking.guard import Guard
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from gateway.masking.verification import Verification
from gateway.observability.audit import AuditLog
from gateway.observability.telemetry import UNWATCHED
from resolvers import Loaders

PRINCIPAL = Principal("agent-0001", frozenset({"agent"}), "https://idp", time.time() + 3600, True)


def _event(n: int, kind: str) -> CloudEvent:
    return CloudEvent(
        id=f"e-{n}",
        source="switchboard/core",
        type=kind,
        time="2026-12-06T03:00:00Z",
        subject=f"P-{n}",
    )


class _Payments:
    """Frames of payments only: (cursor, missed)."""

    def __init__(self) -> None:
        self.closed = False

    def wants(self, event: CloudEvent) -> bool:
        return True  # every event reaches `frame`, which picks

    async def start(self) -> None:
        return None

    async def frame(self, delivery: Delivery, missed: bool) -> Frame[tuple[str, bool]] | None:
        if delivery.event.type != "payment.posted":
            return None
        verification = Verification(None, PRINCIPAL.subject, skipped="not_needed")
        access = Access(Policy.load(), Masker(b"k"), PRINCIPAL, verification, interaction_id=None)
        loaders = Loaders(cast(Any, None))
        return Frame((delivery.cursor, missed), loaders, access, {})

    def built(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True


def test_the_first_frame_after_a_gap_says_events_were_missed() -> None:
    audit: list[bytes] = []
    guard = Guard(Policy.load(), Masker(b"k"), AuditLog(audit.append))

    async def scenario() -> tuple[list[tuple[str, bool]], list[str | None], bool]:
        broker = InProcessBroker(window=3)
        cursors = [await broker.publish(_event(1, "payment.posted"))]
        for n, kind in enumerate(["payment.posted", "case.updated", "payment.posted"], 2):
            cursors.append(await broker.publish(_event(n, kind)))
        cursors.append(await broker.publish(_event(5, "payment.posted")))
        context = cast(
            FeedContext,
            SimpleNamespace(
                broker=broker,
                guard=guard,
                sources=None,
                request_id="r",
                client_request_id=None,
                telemetry=UNWATCHED,
                transport="websocket",
            ),
        )
        feed = _Payments()
        # the first cursor fell out of the window (3 events): a gap, then the window replayed,
        # its first frame (the case update is not this feed's) saying so
        stream = run(context, PRINCIPAL, cursors[0], "test", feed)
        got = [await anext(stream) for _ in range(2)]
        await stream.aclose()
        await guard.aclose()
        return got, cursors, feed.closed

    got, cursors, closed = asyncio.run(scenario())
    assert got == [(cursors[3], True), (cursors[4], False)]
    assert closed
