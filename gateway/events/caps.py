"""How many subscriptions one caller may hold open on this replica, whatever the transport.

An agent's desktop needs one or two (screen pops, a customer's journey); a leaked token, a
reconnect loop or a buggy tab must not open hundreds, each with a broker queue and a task. So
every subscription, over graphql-transport-ws or SSE, takes a `Slot` keyed by the token's
(issuer, subject) — a `sub` means something only with its issuer — and gives it back on every
exit path (`Slot.release` is idempotent, and the callers release in `finally` or in a task's
done callback, which runs even for a task cancelled before it started). Over the cap the
subscription is refused with `SUBSCRIPTION_LIMIT`: 429 on `/graphql/stream`, an `error` frame
for that `subscribe` on the socket.

The count is per replica (a caller's subscriptions on another replica are not seen): enough
to bound what one process holds, which is what the cap protects.

Also here: the graphql-transport-ws handler that applies both caps (per socket and per subject)
with a code the client can branch on (strawberry's own per-socket refusal has none)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphql import GraphQLError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)

from gateway.events.screen_pops import SocketContext
from gateway.observability import codes

if TYPE_CHECKING:
    from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage

__all__ = ["CappedTransportWS", "Slot", "SubjectCaps"]

Identity = tuple[str, str]
"""(issuer, subject)."""


class Slot:
    """One open subscription's share of its caller's cap."""

    __slots__ = ("_caps", "_identity", "_transport")

    def __init__(self, caps: SubjectCaps, identity: Identity, transport: str) -> None:
        self._caps: SubjectCaps | None = caps
        self._identity = identity
        self._transport = transport

    def release(self) -> None:
        """Give the slot back; a second call does nothing."""
        caps, self._caps = self._caps, None
        if caps is not None:
            caps._release(self._identity, self._transport)


class SubjectCaps:
    """At most `per_subject` open subscriptions per (issuer, subject). Not thread-safe: one
    event loop owns it (acquire and release never await)."""

    def __init__(self, per_subject: int) -> None:
        if per_subject < 1:
            raise ValueError("per_subject must be at least 1")
        self.per_subject = per_subject
        self._open: dict[Identity, int] = {}
        self._by_transport: dict[str, int] = {}

    def acquire(self, identity: Identity, transport: str = "websocket") -> Slot | None:
        """A slot, or None when the caller already holds `per_subject`; `transport`
        ("websocket" or "sse") only counts it for the metrics."""
        held = self._open.get(identity, 0)
        if held >= self.per_subject:
            return None
        self._open[identity] = held + 1
        self._by_transport[transport] = self._by_transport.get(transport, 0) + 1
        return Slot(self, identity, transport)

    def open_by_transport(self) -> dict[str, int]:
        """{transport: open subscriptions} on this replica (the active-subscriptions gauge)."""
        return dict(self._by_transport)

    def held(self, identity: Identity) -> int:
        return self._open.get(identity, 0)

    @property
    def subjects(self) -> int:
        """Callers holding at least one slot (an idle caller leaves no entry behind)."""
        return len(self._open)

    def _release(self, identity: Identity, transport: str) -> None:
        self._by_transport[transport] = self._by_transport.get(transport, 0) - 1
        held = self._open.get(identity, 0) - 1
        if held > 0:
            self._open[identity] = held
        else:
            self._open.pop(identity, None)

    def refusal(self) -> str:
        return (
            f"at most {self.per_subject} subscriptions per caller are open at once: close one first"
        )


class CappedTransportWS(BaseGraphQLTransportWSHandler[SocketContext, None]):
    """graphql-transport-ws with the per-socket and per-subject caps checked before an
    operation starts, refused with an `error` frame carrying `SUBSCRIPTION_LIMIT` (the socket
    stays open: the client may complete another and retry)."""

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        principal = self.context.principal
        if (
            not self.connection_acknowledged
            or principal is None
            or message["id"] in self.operations
        ):
            await super().handle_subscribe(message)  # strawberry closes the socket for these
            return
        per_socket = self.max_subscriptions_per_connection
        if per_socket is not None and len(self.operations) >= per_socket:
            await self._refuse(message, f"at most {per_socket} subscriptions per socket")
            return
        caps: SubjectCaps = self.view.caps  # type: ignore[attr-defined]
        slot = caps.acquire(principal.identity)
        if slot is None:
            await self._refuse(message, caps.refusal())
            return
        try:
            await super().handle_subscribe(message)
        except BaseException:
            slot.release()
            raise
        operation = self.operations.get(message["id"])
        if operation is None or operation.task is None:
            slot.release()
        else:
            # runs whenever the task ends, even cancelled before its first step
            operation.task.add_done_callback(lambda _task: slot.release())

    async def _refuse(self, message: SubscribeMessage, text: str) -> None:
        error = GraphQLError(text, extensions={"code": codes.SUBSCRIPTION_LIMIT})
        frame: Any = {"id": message["id"], "type": "error", "payload": [error.formatted]}
        await self.send_message(frame)
