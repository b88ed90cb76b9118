"""`POST /graphql/stream`: subscriptions over Server-Sent Events, graphql-sse's "distinct
connections" mode (one subscription per request; github.com/enisdenjo/graphql-sse PROTOCOL.md).

For desktops and proxies where a WebSocket is unwelcome. The request is an ordinary GraphQL
POST (`{query, variables, operationName, extensions}`, `Authorization: Bearer`, the same
middleware as `/graphql`: CORS, body limit, BearerAuth, rate limit, JSON only), answered with
`text/event-stream`:

    event: next
    id: <the payload's cursor>
    data: {"data": {...}, "errors": [...]}

    event: complete
    data:

- `id:` is the frame's `cursor` (when the selection has one): a client that reconnects sends it
  back as `Last-Event-ID` (browsers' EventSource does so by itself), which wins over the
  document's `after` argument (`SocketContext.resume_after`), so the missed events come once.
- Refusals before the stream are the gateway's JSON envelope with a status (401 by BearerAuth,
  400 a body that is not an operation, 406 an Accept without text/event-stream, 408 a slow body,
  429 `SUBSCRIPTION_LIMIT`); GraphQL errors (parse, validation, `FORBIDDEN`, a stale cursor) are
  `next` frames on the accepted stream followed by `complete`, as the protocol asks.
- An idle stream gets a comment line every `[events] keepalive_seconds` so proxies keep it.
- The stream ends with the subscription: `complete` after its last frame (`TOKEN_EXPIRED` at
  the token's expiry — ended by the feed, and here too should a feed not), and at once when the
  client goes away: its subscription is cancelled, leaving no task and no broker subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import strawberry
from graphql import GraphQLError
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive, Scope, Send
from strawberry.types import ExecutionResult

from gateway.auth.authenticator import Principal
from gateway.config import ServerSettings
from gateway.events.broker import Broker
from gateway.events.caps import SubjectCaps
from gateway.events.execute import Subscriptions
from gateway.events.reads import EventReads
from gateway.events.screen_pops import EXPIRY_CLOSE_GRACE, SocketContext
from gateway.http.drain import Drain
from gateway.http.refusals import header, refuse, request_id_of
from gateway.masking.guard import Guard
from gateway.observability import codes
from gateway.observability.errors import format_error, formatting_errors
from gateway.observability.telemetry import Telemetry
from gateway.writes.api import WriteGate
from sources import Sources

__all__ = ["STREAM_PATH", "StreamView"]

log = logging.getLogger("switchboard.events")

STREAM_PATH = "/graphql/stream"
_CURSOR = re.compile(r"[A-Za-z0-9._:-]{1,64}")
"""What a cursor may look like (the in-process broker's `<epoch>-<seq>`, a Redis entry id):
only such a value becomes an `id:` line or is taken from `Last-Event-ID`."""
_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),  # nginx: do not buffer the frames
]
_COMPLETE = b"event: complete\ndata:\n\n"
_Write = Callable[[bytes], Awaitable[None]]
_KEEPALIVE = b": keep-alive\n\n"
_RESUME_ELSEWHERE = b": restarting; reconnect with Last-Event-ID\nretry: 1000\n\n"
"""The last lines of a stream whose process is stopping (`retry:` tells EventSource to come
back after a second, to another replica behind the load balancer)."""


@dataclass(frozen=True, slots=True)
class Operation:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None


class _Refused(Exception):
    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class StreamView:
    """The ASGI app of `POST /graphql/stream` (behind the GraphQL route's middleware, so
    a principal is in the scope's state)."""

    def __init__(
        self,
        schema: strawberry.Schema,
        sources: Sources,
        guard: Guard,
        broker: Broker,
        caps: SubjectCaps,
        reads: EventReads,
        server: ServerSettings,
        *,
        keepalive: float,
        telemetry: Telemetry | None = None,
        writes: WriteGate | None = None,
        drain: Drain | None = None,
    ) -> None:
        self.writes = writes
        """`writeCompleted`'s (gateway/writes/api.py); None: not served on this view."""
        self.schema = Subscriptions(schema)  # the one entry point (gateway/events/execute.py)
        self.sources = sources
        self.guard = guard
        self.broker = broker
        self.caps = caps
        self.reads = reads
        self.server = server
        self.keepalive = keepalive
        self.telemetry = telemetry
        self.drain = drain or Drain()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("StreamView serves HTTP only")
        request_id = request_id_of(scope)
        principal: Principal | None = scope.get("state", {}).get("principal")
        try:
            if principal is None:  # BearerAuth sits in front; fail closed all the same
                raise _Refused(401, "invalid token", codes.UNAUTHENTICATED)
            if not _accepts(header(scope, b"accept")):
                raise _Refused(406, "this path answers text/event-stream", codes.BAD_REQUEST)
            resume = _last_event_id(header(scope, b"last-event-id"))
            request = Request(scope, receive)
            try:
                async with asyncio.timeout(self.server.body_timeout_seconds):
                    operation = _operation(await request.body())
            except TimeoutError:
                raise _Refused(
                    408, "request body not received in time", codes.REQUEST_TIMEOUT
                ) from None
        except _Refused as refused:
            close = [(b"connection", b"close")] if refused.status == 408 else []
            await refuse(
                send, refused.status, refused.message, refused.code, request_id, headers=close
            )
            return
        except ClientDisconnect:
            return
        slot = self.caps.acquire(principal.identity, "sse")
        if slot is None:
            await refuse(send, 429, self.caps.refusal(), codes.SUBSCRIPTION_LIMIT, request_id)
            return
        try:
            context = SocketContext(
                request, self.broker, self.sources, self.guard, self.reads, self.telemetry
            )
            context.principal = principal
            if self.writes is not None:
                context.writes = self.writes.for_socket(lambda: principal)
            context.resume_after = resume
            await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
            await self._stream(operation, context, receive, send)
        finally:
            slot.release()

    async def _execute(
        self, operation: Operation, context: SocketContext
    ) -> AsyncGenerator[ExecutionResult, None]:
        """The one place a subscription is executed (as the WebSocket path does: the same
        schema, context and extensions)."""
        return await self.schema.subscribe(
            operation.query,
            variable_values=operation.variables,
            context_value=context,
            operation_name=operation.operation_name,
            operation_extensions=operation.extensions,
        )

    async def _stream(
        self, operation: Operation, context: SocketContext, receive: Receive, send: Send
    ) -> None:
        """The subscription's frames until it completes, the client leaves or the token
        expires; every task started here has ended when this returns."""
        lock = asyncio.Lock()  # one frame at a time: the pump and the keep-alive share `send`

        async def write(chunk: bytes) -> None:
            async with lock:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})

        assert context.principal is not None
        expires_in = context.principal.expires_at - time.time() + EXPIRY_CLOSE_GRACE
        pump = asyncio.create_task(self._pump(operation, context, write))
        gone = asyncio.create_task(_disconnected(receive))
        beat = asyncio.create_task(_keepalive(write, self.keepalive))
        drained = asyncio.create_task(self.drain.wait())
        done: set[asyncio.Task[None]] = set()
        try:
            done, _ = await asyncio.wait(
                {pump, gone, drained},
                timeout=max(expires_in, 0),
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for task in (pump, gone, beat, drained):
                task.cancel()
            ends = await asyncio.gather(pump, gone, beat, drained, return_exceptions=True)
        if gone in done:
            return  # nobody to write to
        if drained in done and pump not in done:
            # the process is stopping: no `complete` (the subscription is not over), a word to
            # reconnect, and the end of the response; the client resumes with Last-Event-ID
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.keepalive):
                    await write(_RESUME_ELSEWHERE)
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        failure = ends[0]
        if isinstance(failure, Exception):
            log.error(
                "stream failed request_id=%s",
                context.request_id,
                exc_info=(type(failure), failure, failure.__traceback__),
            )
        # a client that stopped reading does not hold the request open past this
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.keepalive):
                if pump not in done:
                    # the token expired and the feed did not end the stream: end it here
                    expired = GraphQLError(
                        "the token has expired", extensions={"code": codes.TOKEN_EXPIRED}
                    )
                    await write(_next({"data": None, "errors": [expired.formatted]}))
                    await write(_COMPLETE)
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pump(self, operation: Operation, context: SocketContext, write: _Write) -> None:
        with formatting_errors():
            try:
                results = await self._execute(operation, context)
                async with contextlib.aclosing(results):
                    async for result in results:
                        await write(_next(_payload(result, context.request_id)))
            except GraphQLError as error:
                # raised by an extension before execution (the document does not parse, is
                # too large, is not registered): the client's error, in the stream
                refused = ExecutionResult(data=None, errors=[error])
                await write(_next(_payload(refused, context.request_id)))
        await write(_COMPLETE)


def _payload(result: ExecutionResult, request_id: str) -> dict[str, Any]:
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [format_error(e, request_id) for e in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return payload


def _next(payload: dict[str, Any]) -> bytes:
    cursor = _cursor(payload.get("data"))
    id_line = b"" if cursor is None else b"id: " + cursor.encode() + b"\n"
    return b"event: next\n" + id_line + b"data: " + orjson.dumps(payload) + b"\n\n"


def _cursor(data: Any) -> str | None:
    """The cursor of a subscription's payload: its one root field's `cursor`."""
    if not isinstance(data, dict) or len(data) != 1:
        return None
    value = next(iter(data.values()))
    cursor = value.get("cursor") if isinstance(value, dict) else None
    return cursor if isinstance(cursor, str) and _CURSOR.fullmatch(cursor) else None


async def _disconnected(receive: Receive) -> None:
    """Returns when the client has gone (the body was read before the stream started)."""
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _keepalive(write: _Write, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        await write(_KEEPALIVE)


def _accepts(accept: str | None) -> bool:
    if accept is None:
        return True
    media = {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}
    return bool(media & {"text/event-stream", "text/*", "*/*"})


def _last_event_id(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not _CURSOR.fullmatch(value):
        raise _Refused(400, "Last-Event-ID is not a cursor of this gateway", codes.BAD_REQUEST)
    return value


def _operation(body: bytes) -> Operation:
    """The GraphQL-over-HTTP request body, or a 400 naming what is wrong."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _Refused(400, "the body is not JSON", codes.BAD_REQUEST) from None
    if not isinstance(data, dict):
        raise _Refused(400, "the body must be one operation, a JSON object", codes.BAD_REQUEST)
    query = data.get("query")
    variables = data.get("variables")
    name = data.get("operationName")
    extensions = data.get("extensions")
    if not isinstance(query, str) or not query.strip():
        raise _Refused(400, "no query in the body", codes.BAD_REQUEST)
    if variables is not None and not isinstance(variables, dict):
        raise _Refused(400, "variables must be a JSON object", codes.BAD_REQUEST)
    if name is not None and not isinstance(name, str):
        raise _Refused(400, "operationName must be a string", codes.BAD_REQUEST)
    if extensions is not None and not isinstance(extensions, dict):
        raise _Refused(400, "extensions must be a JSON object", codes.BAD_REQUEST)
    return Operation(query, variables, name, extensions)
