"""`POST /webhooks/{system}`: signed vendor events in, canonical events to the broker.

The order matters and is the contract (EVENTS-CONTRACT.md):
1. a system with no secrets configured has no endpoint: 404;
2. the body is read raw, capped ([webhooks.<system>] max_body_bytes: 413) and bounded in time
   ([server] body_timeout_seconds: 408);
3. the signature is checked over those raw bytes before anything is parsed: 401, nothing done;
4. a webhook-id seen in the last 10 minutes is acknowledged and not processed again: 204;
5. the JSON is parsed and mapped: 400 if it is not the vendor's shape; a type the gateway does
   not use is acknowledged (204) and counted;
6. each canonical event is published (the broker drops one it has already seen): 204.

Not behind bearer auth: a vendor authenticates by signature. Every refusal is the gateway's JSON
envelope; the log names the system and a fixed reason, never the body, the signature or a secret.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

import orjson
from starlette.types import Receive, Scope, Send

from gateway.events.broker import Broker
from gateway.events.dedupe import TtlSet
from gateway.events.mapping import MappingError, map_payload
from gateway.events.settings import WebhookSettings
from gateway.events.signatures import TOLERANCE_SECONDS, SignatureError, Verifier
from gateway.http.refusals import header, refuse, request_id_of
from gateway.observability import codes
from gateway.observability.metrics import Metrics
from gateway.observability.tracing import NO_TRACING, ActiveSpan, Tracing

__all__ = ["WebhookIngest"]

log = logging.getLogger("switchboard.events")

DEDUPE_SECONDS = 660.0
"""A signed delivery is accepted for 2 x 300 s (its timestamp's tolerance both ways); the
webhook-id is kept that long plus a minute, so any replay that passes the signature is caught."""
DEDUPE_SIZE = 100_000


class _TooLarge(Exception):
    pass


class WebhookIngest:
    """The ASGI endpoint; one for all systems (the path names the system)."""

    def __init__(
        self,
        settings: Mapping[str, WebhookSettings],
        broker: Broker,
        metrics: Metrics,
        *,
        body_timeout: float = 10.0,
        clock: Callable[[], float] | None = None,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        assert DEDUPE_SECONDS > 2 * TOLERANCE_SECONDS  # see DEDUPE_SECONDS
        self._verifiers = {
            system: Verifier(s.secrets, clock=clock or time.time)
            for system, s in settings.items()
            if s.secrets
        }
        self._limits = {system: s.max_body_bytes for system, s in settings.items()}
        self._broker = broker
        self._metrics = metrics
        self._body_timeout = body_timeout
        self._seen = TtlSet(DEDUPE_SECONDS, DEDUPE_SIZE)
        self._tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        system = str(scope.get("path_params", {}).get("system", ""))
        request_id = request_id_of(scope)
        verifier = self._verifiers.get(system)
        if verifier is None:
            await refuse(send, 404, "no such webhook", codes.NOT_FOUND, request_id)
            return
        span = self._tracing.ingest(system)  # a no-op unless tracing is on
        outcome = "error"
        try:
            outcome = await self._handle(system, verifier, request_id, span, scope, receive, send)
        finally:
            span.set("switchboard.outcome", outcome)
            span.end(error=outcome.startswith(("refused", "error")))

    async def _handle(
        self,
        system: str,
        verifier: Verifier,
        request_id: str,
        span: ActiveSpan,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> str:
        """Steps 2-6 of the module's docstring; answers the delivery, returns its outcome."""
        received = time.time()
        limit = self._limits[system]
        length = header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await self._refused(send, system, "too_large", request_id)
        try:
            async with asyncio.timeout(self._body_timeout):
                body = await _read(receive, limit)
        except _TooLarge:
            return await self._refused(send, system, "too_large", request_id)
        except TimeoutError:
            return await self._refused(send, system, "timeout", request_id)
        webhook_id = header(scope, b"webhook-id")
        try:
            verifier.verify(
                webhook_id,
                header(scope, b"webhook-timestamp"),
                header(scope, b"webhook-signature"),
                body,
            )
        except SignatureError as exc:
            return await self._refused(send, system, f"signature_{exc.reason}", request_id)
        key = (system, webhook_id)
        if key in self._seen:
            self._metrics.webhook(system, "duplicate")
            await _accepted(send)
            return "duplicate"
        try:
            events = map_payload(system, orjson.loads(body))
        except orjson.JSONDecodeError:
            return await self._refused(send, system, "bad_json", request_id)
        except MappingError as exc:
            return await self._refused(send, system, "bad_shape", request_id, str(exc))
        # stamped for what follows: the delivery's span links to this one (CloudEvents'
        # `traceparent` extension), the delivery-latency metric starts at `received`
        traceparent = span.traceparent
        published = [
            await self._broker.publish(replace(event, traceparent=traceparent, received=received))
            for event in events
        ]
        for cursor in published:
            self._metrics.event(system, "deduplicated" if cursor is None else "published")
        span.set("switchboard.events", len(events))
        self._seen.add(key)  # only once handled: a delivery refused above may be sent again
        if not events:
            outcome = "ignored"
        elif all(cursor is None for cursor in published):
            outcome = "duplicate"  # the same vendor event under a new webhook-id
        else:
            outcome = "accepted"
        self._metrics.webhook(system, outcome)
        await _accepted(send)
        return outcome

    async def _refused(
        self, send: Send, system: str, reason: str, request_id: str, detail: str = ""
    ) -> str:
        """Answers the refusal; returns the outcome `refused:<reason>` (a fixed set)."""
        self._metrics.webhook(system, "refused", reason)
        log.warning("webhook refused: system=%s reason=%s %s", system, reason, detail)
        status, code, message = _REFUSALS[reason]
        await refuse(send, status, f"{message}{': ' + detail if detail else ''}", code, request_id)
        return f"refused:{reason}"


_SIGNATURE = (401, codes.UNAUTHENTICATED, "the webhook signature is missing, invalid or stale")
_REFUSALS: dict[str, tuple[int, str, str]] = {
    "too_large": (413, codes.PAYLOAD_TOO_LARGE, "the body exceeds max_body_bytes"),
    "timeout": (408, codes.REQUEST_TIMEOUT, "the body did not arrive in time"),
    "signature_missing": _SIGNATURE,
    "signature_malformed": _SIGNATURE,
    "signature_stale": _SIGNATURE,
    "signature_mismatch": _SIGNATURE,
    "bad_json": (400, codes.BAD_REQUEST, "the body is not JSON"),
    "bad_shape": (400, codes.BAD_REQUEST, "the body is not this system's event shape"),
}
REFUSAL_REASONS = tuple(_REFUSALS)


async def _read(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise TimeoutError  # nobody to answer; treated as a body that never came
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _accepted(send: Send) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})
