"""The GraphQL endpoint: strawberry's ASGI view, with the per-request context (principal,
loaders, access), the request's deadline scope entered and left around each operation, the
request body bounded by that deadline, and the answer in the gateway's shape."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import orjson
import strawberry
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UnsetType

from gateway.auth.authenticator import Authenticator, InvalidToken, Principal
from gateway.config import ServerSettings
from gateway.events.broker import Broker
from gateway.events.caps import CappedTransportWS, SubjectCaps
from gateway.events.execute import Subscriptions
from gateway.events.reads import EventReads
from gateway.events.screen_pops import SocketContext
from gateway.http.fastpath import ThinPath, request_headers
from gateway.http.graphiql import csp_header, render_graphiql_html
from gateway.http.refusals import refuse
from gateway.masking.access import Access
from gateway.masking.guard import Guard
from gateway.observability import codes
from gateway.observability.errors import format_error, formatting_errors
from gateway.observability.metrics import OTHER
from gateway.observability.operation import OperationRecord, current_operation, recording
from gateway.observability.telemetry import Telemetry
from gateway.observability.tracing import ActiveSpan
from gateway.writes.api import CallerWrites, WriteGate
from resolvers import Loaders
from resolvers.routing import Routing
from sources import Sources, current_scope, request_scope

log = logging.getLogger("switchboard.auth")

__all__ = ["GraphQLView", "RequestContext", "SubscriptionView", "ide_enabled"]


@dataclass(slots=True)
class RequestContext:
    """Built per HTTP request: loaders (and their caches) never outlive it."""

    request: Request | WebSocket
    response: Response | WebSocket | None
    principal: Principal
    loaders: Loaders
    access: Access
    writes: CallerWrites
    routing: Routing
    """The routing rules and deadline (`Query.routingContext`)."""
    request_id: str
    """The gateway's own (the audit trail's); `client_request_id` is the caller's X-Request-Id."""
    client_request_id: str | None = None
    may_introspect: bool = False
    connection_params: dict[str, Any] | None = None

    async def ready(self) -> None:
        """Everything masking needs is known (the caller's interaction is confirmed)."""
        await self.access.verification.settle()


class GraphQLView(GraphQL[RequestContext, None]):
    def __init__(
        self,
        schema: strawberry.Schema,
        sources: Sources,
        guard: Guard,
        server: ServerSettings,
        *,
        ide_headers: str | None,
        telemetry: Telemetry | None = None,
        writes: WriteGate,
        routing: Routing,
        on_discrepancy: Callable[[str], None] | None = None,
        thin: bool = False,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if ide_enabled(server) else None,
            allow_queries_via_get=False,  # POST only: no operation rides in a URL or a link
        )
        self.sources = sources
        self.guard = guard
        self.server = server
        self.ide_headers = ide_headers
        self.telemetry = telemetry or Telemetry()
        self.writes = writes
        self.routing = routing
        self.on_discrepancy = on_discrepancy
        """Told each discrepancy found (resolvers/discrepancies.py): the metric."""
        self.thin = ThinPath(self) if thin else None
        """The road around strawberry's view for one JSON operation (gateway/http/fastpath.py)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Each request inside its own deadline scope (entered and left here, whatever the
        server's task model), its body read by that deadline, its errors logged once."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        if scope.get("state", {}).get("principal") is None and not self.should_render_graphql_ide(
            self.request_adapter_class(Request(scope, receive))
        ):
            # Only the GraphiQL page passes BearerAuth without a principal.
            await _answer(scope, send, 401, "invalid token", codes.UNAUTHENTICATED)
            return
        server = self.server
        content_type, accept, asked = request_headers(scope)  # each header read once
        timeout = self._deadline(asked)
        telemetry = self.telemetry
        started = time.perf_counter()
        span = telemetry.tracing.operation(scope["headers"])  # a no-op unless tracing is on
        with (
            recording() as record,
            request_scope(timeout, server.deadline_margin_seconds),
            formatting_errors(),
        ):
            body_by = time.monotonic() + min(timeout, server.body_timeout_seconds)
            bounded = _receive_by(receive, body_by)
            thin = self.thin
            try:
                if thin is not None and thin.eligible(scope, content_type, accept):
                    await thin.serve(scope, bounded, send)
                else:
                    await super().__call__(scope, bounded, send)
            except _BodyLate:
                await _answer(
                    scope, send, 408, "request body not received in time", codes.REQUEST_TIMEOUT
                )
            finally:
                if record.answered:  # not the GraphiQL page, nor a body that never came
                    telemetry.finish(record, time.perf_counter() - started)
                if telemetry.tracing.enabled:
                    _close(span, record)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> RequestContext:
        principal: Principal | None = request.scope.get("state", {}).get("principal")
        if principal is None:
            # the GraphiQL page (`__call__`): strawberry asks for a context before it decides
            # to render the page, and never uses this one
            return cast(RequestContext, None)
        loaders = Loaders(self.sources)
        loaders.on_discrepancy = self.on_discrepancy
        interaction_id = request.headers.get("x-interaction-id")
        access = await self.guard.access(principal, loaders, interaction_id)
        return RequestContext(
            request=request,
            response=response,
            principal=principal,
            loaders=loaders,
            access=access,
            writes=self.writes.for_request(
                principal, loaders, access.interaction_id, request.headers.get("idempotency-key")
            ),
            routing=self.routing,
            request_id=request.state.request_id,
            client_request_id=request.state.client_request_id,
            may_introspect=self.server.may_introspect(principal.roles),
        )

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        """Strawberry's: an empty `Response` without status or headers, for resolvers and
        extensions to set them on; made as a 204 (no content-length to compute, parse and
        delete again) and its status then cleared, the same object as strawberry's."""
        sub_response = Response(status_code=204)
        sub_response.status_code = None  # type: ignore[assignment]  # strawberry's "unset"
        return sub_response

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        # the id the client knows: its own when it sent one (RequestId)
        request_id: str = request.state.client_request_id or request.state.request_id
        record = current_operation()
        if record is not None:
            record.answered = True
            record.result = "error" if result.data is None else "partial" if result.errors else "ok"
        response: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            response["errors"] = [format_error(e, request_id) for e in result.errors]
        extensions = {**(result.extensions or {}), "requestId": request_id}
        scope = current_scope()
        if scope is not None and scope.reports:
            extensions["sources"] = scope.summary()
        response["extensions"] = extensions
        return response

    def _deadline(self, asked: bytes | None) -> float:
        """The configured deadline, or less if the client asks in X-Request-Timeout-Ms (never
        more)."""
        deadline = self.server.deadline_seconds
        text = "" if asked is None else asked.decode("latin-1")
        # ASCII digits only: "²" is a digit to `isdigit` and not to `int` (a 500 before)
        if text.isascii() and text.isdigit() and 0 < int(text) < deadline * 1000:
            deadline = int(text) / 1000
        return deadline

    async def render_graphql_ide(self, request: Request) -> Response:
        page = (
            render_graphiql_html(endpoint=request.url.path, default_headers=self.ide_headers)
            if self.ide_headers
            else render_graphiql_html(endpoint=request.url.path)
        )
        return HTMLResponse(page, headers={"Content-Security-Policy": csp_header()})

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)  # bytes straight into the response body

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)


MAX_SUBSCRIPTIONS_PER_SOCKET = 5


class SubscriptionView(GraphQL[SocketContext, None]):
    """`/graphql` over WebSocket: graphql-transport-ws only (the legacy `graphql-ws` subprotocol
    is closed with 4406), the browser's Origin checked against [server] cors_origins before
    the handshake is accepted (strawberry's `allowed_origins`), the bearer token in the
    `connection_init` payload (`{"Authorization": "Bearer ..."}`; refused: close 4403), and a
    few subscriptions per socket, and per caller with SSE (`caps`, gateway/events/caps.py).
    Operations run through `Subscriptions` (subscriptions only, on the configured execution:
    gateway/events/execute.py)."""

    graphql_transport_ws_handler_class = CappedTransportWS

    def __init__(
        self,
        schema: strawberry.Schema,
        sources: Sources,
        guard: Guard,
        server: ServerSettings,
        authenticator: Authenticator,
        broker: Broker,
        caps: SubjectCaps,
        reads: EventReads,
        writes: WriteGate,
        *,
        telemetry: Telemetry | None = None,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            allow_queries_via_get=False,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_SOCKET,
            allowed_origins=tuple(server.cors_origins),
        )
        self.sources = sources
        self.guard = guard
        self.authenticator = authenticator
        self.broker = broker
        self.caps = caps
        self.reads = reads
        self.telemetry = telemetry
        self.subscriptions = Subscriptions(schema)
        # strawberry's graphql-transport-ws handler calls `self.schema.stream(...)`: it gets
        # the gateway's entry point, with the schema's signatures
        self.schema = cast(BaseSchema, self.subscriptions)
        self.writes = writes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":  # the HTTP route is GraphQLView's
            raise RuntimeError("SubscriptionView serves websockets only")
        try:
            await super().__call__(scope, receive, send)
        finally:
            # the socket is over: its expiry watch with it
            context: SocketContext | None = scope.get("state", {}).get("socket_context")
            if context is not None:
                context.stop()

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> SocketContext:
        assert isinstance(request, WebSocket)
        context = SocketContext(
            request, self.broker, self.sources, self.guard, self.reads, self.telemetry
        )
        context.writes = self.writes.for_socket(lambda: context.principal)  # writeCompleted
        request.scope.setdefault("state", {})["socket_context"] = context
        return context

    async def on_ws_connect(self, context: SocketContext) -> UnsetType | dict[str, object] | None:
        params = context.connection_params
        authorization = params.get("Authorization") if isinstance(params, dict) else None
        try:
            principal = await self.authenticator.authenticate(
                authorization if isinstance(authorization, str) else None
            )
        except InvalidToken as exc:
            log.info("websocket 4403 request_id=%s reason=%s", context.request_id, exc.reason)
            raise ConnectionRejectionError from None
        context.watch(principal)
        return None


def _close(span: ActiveSpan, record: OperationRecord) -> None:
    """The operation's span: named by its type, and by its name only for a trusted document
    (a caller's operation name is free text: it never reaches a span)."""
    attributes = {
        "graphql.operation.type": record.type,
        "switchboard.execution": record.execution or "none",
        "switchboard.result": record.result,
    }
    if record.name != OTHER:
        span.rename(f"{record.type} {record.name}")
        attributes["graphql.operation.name"] = record.name
    else:
        span.rename(record.type)
    span.end(error=record.result == "error", attributes=attributes)


class _BodyLate(Exception):
    """The request body did not arrive by the request's deadline."""


def _receive_by(receive: Receive, deadline: float) -> Receive:
    """`receive`, bounded while the body arrives: a body trickled in must not hold the request
    past its deadline. Once the body is in, `receive` is the server's own again (a response
    may wait on it for the client's disconnect)."""
    body_in = False

    async def bounded() -> Message:
        nonlocal body_in
        if body_in:
            return await receive()
        try:
            async with asyncio.timeout(max(deadline - time.monotonic(), 0)):
                message = await receive()
        except TimeoutError:
            raise _BodyLate from None
        body_in = message["type"] != "http.request" or not message.get("more_body", False)
        return message

    return bounded


async def _answer(scope: Scope, send: Send, status: int, message: str, code: str) -> None:
    """A refusal of the view itself, in the one JSON envelope (gateway/http/refusals.py)."""
    state = scope.get("state", {})
    request_id: str = state.get("client_request_id") or state.get("request_id", "")
    # a 408 leaves the rest of the body unread: the connection cannot be reused
    headers = [(b"connection", b"close")] if status == 408 else []
    await refuse(send, status, message, code, request_id, headers=headers)


def ide_enabled(server: ServerSettings) -> bool:
    return server.graphiql or server.profile == "development"
