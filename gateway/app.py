"""The ASGI application: Starlette routes, the GraphQL view and health; readiness and metrics
are the internal app's (gateway/http/admin.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

import orjson
import strawberry
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from gateway.auth.authenticator import Authenticator, Principal
from gateway.config import Config, ServerSettings
from gateway.execution.select import PlanCache, executor_class
from gateway.http.admin import Readiness, admin_app
from gateway.http.graphiql import csp_header, graphiql_assets_app, render_graphiql_html
from gateway.http.middleware import BearerAuth, ErrorEnvelope, RequestId, refuse
from gateway.limits.extension import guardrails
from gateway.limits.ratelimit import limiter_for
from gateway.limits.trusted import TrustedDocuments
from gateway.masking.access import Access
from gateway.masking.guard import Guard
from gateway.masking.wrappers import install_masking
from gateway.observability import codes
from gateway.observability.errors import format_error, formatting_errors, quiet_strawberry_logger
from gateway.observability.metrics import Metrics
from resolvers import Loaders
from schema import build_schema
from sources import Sources, current_scope, request_scope

__all__ = ["RequestContext", "create_app"]

log = logging.getLogger("switchboard")


@dataclass(slots=True)
class RequestContext:
    """Built per HTTP request: loaders (and their caches) never outlive it."""

    request: Request | WebSocket
    response: Response | WebSocket | None
    principal: Principal
    loaders: Loaders
    access: Access
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
        timeout = self._deadline(Headers(scope=scope))
        with request_scope(timeout, server.deadline_margin_seconds), formatting_errors():
            body_by = time.monotonic() + min(timeout, server.body_timeout_seconds)
            try:
                await super().__call__(scope, _receive_by(receive, body_by), send)
            except _BodyLate:
                await _answer(
                    scope, send, 408, "request body not received in time", codes.REQUEST_TIMEOUT
                )

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> RequestContext:
        principal: Principal | None = request.scope.get("state", {}).get("principal")
        if principal is None:
            # the GraphiQL page (`__call__`): strawberry asks for a context before it decides
            # to render the page, and never uses this one
            return cast(RequestContext, None)
        loaders = Loaders(self.sources)
        interaction_id = request.headers.get("x-interaction-id")
        return RequestContext(
            request=request,
            response=response,
            principal=principal,
            loaders=loaders,
            access=await self.guard.access(principal, loaders, interaction_id),
            request_id=request.state.request_id,
            client_request_id=request.state.client_request_id,
            may_introspect=self.server.may_introspect(principal.roles),
        )

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        # the id the client knows: its own when it sent one (RequestId)
        request_id: str = request.state.client_request_id or request.state.request_id
        response: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            response["errors"] = [format_error(e, request_id) for e in result.errors]
        extensions = {**(result.extensions or {}), "requestId": request_id}
        scope = current_scope()
        if scope is not None and scope.reports:
            extensions["sources"] = scope.summary()
        response["extensions"] = extensions
        return response

    def _deadline(self, headers: Headers) -> float:
        """The configured deadline, or less if the client asks (never more)."""
        deadline = self.server.deadline_seconds
        asked = headers.get("x-request-timeout-ms", "")
        if asked.isdigit() and 0 < int(asked) < deadline * 1000:
            deadline = int(asked) / 1000
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
    """A refusal of the view itself, in the one JSON envelope (gateway/http/middleware.py)."""
    state = scope.get("state", {})
    request_id: str = state.get("client_request_id") or state.get("request_id", "")
    # a 408 leaves the rest of the body unread: the connection cannot be reused
    headers = [(b"connection", b"close")] if status == 408 else []
    await refuse(send, status, message, code, request_id, headers=headers)


def ide_enabled(server: ServerSettings) -> bool:
    return server.graphiql or server.profile == "development"


def create_app(
    config: Config,
    *,
    sources: Sources | None = None,
    guard: Guard | None = None,
    ide_headers: str | None = None,
) -> Starlette:
    """The gateway. `sources` may be injected (tests use httpx.MockTransport back-ends), and so
    may `guard` (tests capture the audit trail); `ide_headers` pre-fills GraphiQL's header
    editor (the demo puts a sandbox token there)."""
    quiet_strawberry_logger()
    sources = sources or Sources.open(config.sources)
    guard = guard or Guard.from_config(config)
    trusted = None
    if config.trusted_documents.manifest:  # parsed and validated once, here
        trusted = TrustedDocuments.load(config.trusted_documents.manifest, build_schema()._schema)
    # "Did you mean ...?" in development only; Guardrails also parses, through a cache
    # bounded by bytes (strawberry's ParserCache counts entries of any size)
    suggestions = config.server.profile == "development"
    rails = guardrails(
        config.limits, trusted, frozenset(config.trusted_documents.roles), suggestions=suggestions
    )
    extensions = [rails, guard.audit_extension()]
    metrics = Metrics()
    plans = PlanCache(guard.policy, guard.masker, metrics, config.server.plan_cache_size)
    compiled = config.server.execution == "compiled"
    schema = build_schema(
        extensions, executor_class(plans, compiled=compiled), suggestions=suggestions
    )
    install_masking(schema)
    if compiled and trusted is not None:
        documents = [(d.text, d.document) for d in trusted.documents.values()]
        roles = [frozenset({role}) for role in config.trusted_documents.roles]
        for operation, reason in plans.warm(schema._schema, documents, roles):
            log.warning(
                "trusted operation %s will run on standard execution: %s", operation, reason
            )
    authenticator = Authenticator(config.auth)
    view = GraphQLView(schema, sources, guard, config.server, ide_headers=ide_headers)
    limiter = limiter_for(config.rate_limit) if config.rate_limit.enabled else None
    graphql: ASGIApp = RequestBodyLimitMiddleware(
        BearerAuth(
            view,
            authenticator,
            ide=ide_enabled(config.server),
            limiter=limiter,
            limits=config.rate_limit,
            describe=config.server.profile == "development",
        ),
        max_body_size=config.server.max_body_bytes,
    )
    if config.server.cors_origins:
        graphql = CORSMiddleware(
            graphql,
            allow_origins=list(config.server.cors_origins),
            allow_methods=["POST"],
            allow_headers=[
                "authorization",
                "content-type",
                "x-interaction-id",
                "x-request-id",
                "x-request-timeout-ms",
            ],
            expose_headers=["x-request-id", "retry-after"],
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await authenticator.start()
        if not authenticator.ready:
            log.warning("no signing keys yet: requests get 401 until the JWKS can be fetched")
        try:
            yield
        finally:
            await authenticator.close()
            await sources.aclose()
            if limiter is not None:
                await limiter.aclose()
            await guard.aclose()  # the audit lines still queued are written first

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes: list[BaseRoute] = [
        Route("/health", health, methods=["GET"]),
        Route("/graphql", graphql, methods=["GET", "POST", "OPTIONS"]),
    ]
    if ide_enabled(config.server):
        routes.append(Mount("/_graphiql", app=graphiql_assets_app()))
    # RequestId and ErrorEnvelope around every route: any refusal below them (the body limit's
    # 413, strawberry's 400s and 405, a refused CORS preflight, an unknown path) leaves as JSON
    # with its code and request id. The body limit is on /graphql only: no other route reads one.
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(RequestId), Middleware(ErrorEnvelope)],
    )
    # /ready and /metrics: the internal port's app (gateway.http.admin.admin_app_of(app))
    app.state.admin = admin_app(Readiness(sources, authenticator), metrics)
    return app
