"""The ASGI application, assembled: configuration -> components (sources, guard, guardrails,
schema, authenticator, limiter) -> routes, each route's middleware declared on it. A request's
walk through what is assembled here is drawn in docs/architecture.md."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from gateway.auth.authenticator import Authenticator
from gateway.config import Config
from gateway.events.broker import Broker
from gateway.events.caps import SubjectCaps
from gateway.events.ingest import WebhookIngest
from gateway.events.reads import EventReads
from gateway.events.redis_broker import broker_of
from gateway.execution.select import PlanCache, executor_class
from gateway.http.admin import Readiness, admin_app
from gateway.http.drain import Drain
from gateway.http.graphiql import graphiql_assets_app
from gateway.http.middleware import BearerAuth, ErrorEnvelope, RateLimit, RequestId, RequireJson
from gateway.http.sse import STREAM_PATH, StreamView
from gateway.http.view import GraphQLView, SubscriptionView, ide_enabled
from gateway.limits.extension import guardrails
from gateway.limits.ratelimit import limiter_for
from gateway.limits.trusted import TrustedDocuments
from gateway.masking.guard import Guard
from gateway.masking.wrappers import install_masking
from gateway.observability.errors import quiet_strawberry_logger
from gateway.observability.metrics import Metrics
from gateway.observability.trail import audit_trail
from schema import build_schema
from sources import Sources

__all__ = ["create_app"]

log = logging.getLogger("switchboard")


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
    extensions = [rails, audit_trail(guard.policy, guard.audit, guard.admission)]
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
    # outermost first: CORS answers preflights before anything else; the body limit, then who
    # the caller is, how often they call, and that they post JSON
    on_graphql: list[Middleware] = []
    if config.server.cors_origins:
        on_graphql.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(config.server.cors_origins),
                allow_methods=["POST"],
                allow_headers=[
                    "authorization",
                    "content-type",
                    "last-event-id",  # an SSE stream resumed (/graphql/stream)
                    "x-interaction-id",
                    "x-request-id",
                    "x-request-timeout-ms",
                ],
                expose_headers=["x-request-id", "retry-after"],
            )
        )
    on_graphql.append(
        Middleware(RequestBodyLimitMiddleware, max_body_size=config.server.max_body_bytes)
    )
    on_graphql.append(
        Middleware(
            BearerAuth,
            authenticator,
            ide=ide_enabled(config.server),
            describe=config.server.profile == "development",
        )
    )
    if limiter is not None:
        on_graphql.append(Middleware(RateLimit, limiter, config.rate_limit))
    on_graphql.append(Middleware(RequireJson))
    # signed events in (issue #14): vendors authenticate by signature, not by bearer token
    events: Broker = broker_of(config.events)
    # subscriptions per caller on this replica, WebSocket and SSE together
    caps = SubjectCaps(config.events.max_streams_per_subject)
    # what an event costs this replica: one read of the contact it names, however many agents
    reads = EventReads(sources)
    drain = Drain()  # the process is stopping: /ready 503, SSE streams told to resume elsewhere
    ingest = WebhookIngest(
        config.webhooks, events, metrics, body_timeout=config.server.body_timeout_seconds
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
            await events.aclose()

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes: list[BaseRoute] = [
        Route("/health", health, methods=["GET"]),
        Route("/graphql", view, methods=["GET", "POST", "OPTIONS"], middleware=on_graphql),
        # subscriptions (screenPops): the token comes in `connection_init`, checked by the view
        # (BearerAuth refuses websockets); strawberry checks the Origin against cors_origins
        WebSocketRoute(
            "/graphql",
            SubscriptionView(
                schema, sources, guard, config.server, authenticator, events, caps, reads
            ),
        ),
        # subscriptions over SSE (graphql-sse, distinct connections): the GraphQL route's
        # middleware, CORS included, then one stream per request
        Route(
            STREAM_PATH,
            StreamView(
                schema,
                sources,
                guard,
                events,
                caps,
                reads,
                config.server,
                keepalive=config.events.keepalive_seconds,
                drain=drain,
            ),
            methods=["POST", "OPTIONS"],
            middleware=on_graphql,
        ),
        Route("/webhooks/{system}", ingest, methods=["POST"]),
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
    app.state.admin = admin_app(Readiness(sources, authenticator, drain=drain), metrics)
    app.state.drain = drain  # set by `switchboard serve` on SIGTERM (gateway/http/serving.py)
    app.state.events = events  # the broker: subscriptions read from it
    app.state.caps = caps
    app.state.metrics = metrics
    return app
