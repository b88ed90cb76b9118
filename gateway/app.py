"""The ASGI application, assembled: configuration -> components (sources, guard, guardrails,
schema, authenticator, limiter) -> routes, each route's middleware declared on it. A request's
walk through what is assembled here is drawn in docs/architecture.md."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence

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
from gateway.execution.hooks import install_hook_runner
from gateway.execution.select import PlanCache, executor_class
from gateway.http.admin import Readiness, admin_app
from gateway.http.desktop import DemoRole, desktop_routes
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
from gateway.observability.logs import AccessLog, OperationLog
from gateway.observability.metrics import Metrics
from gateway.observability.telemetry import Telemetry
from gateway.observability.tracing import Tracing, tracing_for
from gateway.observability.trail import audit_trail
from gateway.routing import PATH as ROUTING_PATH
from gateway.routing import RoutingEndpoint, load_routing
from gateway.writes import OnSettled, OutboxWrites, Writes, writes_of
from gateway.writes.api import WriteGate
from gateway.writes.rules import rules_of
from gateway.writes.settled import on_settled_for
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
    writes: OutboxWrites | Callable[[OnSettled], Writes] | None = None,
    tracing: Tracing | None = None,
    demo_roles: Sequence[DemoRole] | None = None,
) -> Starlette:
    """The gateway. `sources` may be injected (tests use httpx.MockTransport back-ends), and so
    may `guard` (tests capture the audit trail); `ide_headers` pre-fills GraphiQL's header
    editor (the demo puts a sandbox token there); `writes` may be injected too (tests): a
    service, or a factory given the `on_settled` hook (a test double); and `tracing` (tests
    export spans to memory); `demo_roles`, the tokens `switchboard demo` minted, feed the agent
    desktop's role picker (gateway/http/desktop.py)."""
    quiet_strawberry_logger()
    sources = sources or Sources.open(config.sources)
    guard = guard or Guard.from_config(config)
    routing = load_routing(config.routing)  # checked now: a bad rules file stops start-up
    trusted = None
    if config.trusted_documents.manifest:  # parsed and validated once, here
        trusted = TrustedDocuments.load(config.trusted_documents.manifest, build_schema()._schema)
    # "Did you mean ...?" in development only; Guardrails also parses, through a cache
    # bounded by bytes (strawberry's ParserCache counts entries of any size)
    suggestions = config.server.profile == "development"
    rails = guardrails(
        config.limits, trusted, frozenset(config.trusted_documents.roles), suggestions=suggestions
    )
    metrics = Metrics()
    if tracing is None:  # [telemetry] otlp_endpoint, or the standard OTEL_* variables
        settings = config.telemetry
        tracing = tracing_for(
            settings.otlp_endpoint or None,
            settings.service_name,
            settings.otel_environment,
            settings.sample_ratio,
            sampler_from_environment=settings.otel_sampler,
        )
    telemetry = Telemetry(metrics, tracing, trusted)
    telemetry.observe(sources)
    metrics.watch_audit(lambda: (guard.audit.pending, guard.audit.max_pending))
    extensions = [
        OperationLog,
        rails,
        audit_trail(guard.policy, guard.audit, guard.admission, metrics.limit_alert),
        telemetry.extension(),
    ]
    plans = PlanCache(guard.policy, guard.masker, metrics, config.server.plan_cache_size)
    compiled = config.server.execution == "compiled"
    schema = build_schema(
        extensions, executor_class(plans, compiled=compiled), suggestions=suggestions
    )
    install_masking(schema)
    if compiled:  # the extensions' hooks wrapped once per class; the standard gateway keeps
        install_hook_runner(schema)  # strawberry's runner (the differential suite compares)
    if compiled and trusted is not None:
        documents = [(d.text, d.document) for d in trusted.documents.values()]
        roles = [frozenset({role}) for role in config.trusted_documents.roles]
        for operation, reason in plans.warm(schema._schema, documents, roles):
            log.warning(
                "trusted operation %s will run on standard execution: %s", operation, reason
            )
    authenticator = Authenticator(config.auth)
    # signed events in (issue #14): vendors authenticate by signature, not by bearer token
    events: Broker = broker_of(config.events)
    # write-back (issue #15): the service is made with the hook that audits a settled write
    # and publishes its events (gateway/writes/settled.py)
    on_settled = on_settled_for(events, guard.audit)
    service: Writes
    if writes is None:
        service = writes_of(config.writes, config.events, sources.crm, on_settled=on_settled)
    elif isinstance(writes, OutboxWrites):
        writes.on_settled = on_settled
        service = writes
    else:
        service = writes(on_settled)
    gate = WriteGate(service, rules_of(config.writes), events, guard.audit)
    if isinstance(service, OutboxWrites):  # the outbox's depth and age, read at each scrape
        metrics.watch_outbox(service.pending, service.oldest_pending, service.unreadable_count)
    view = GraphQLView(
        schema,
        sources,
        guard,
        config.server,
        ide_headers=ide_headers,
        writes=gate,
        routing=routing,
        on_discrepancy=metrics.discrepancy,
        telemetry=telemetry,
        thin=compiled,  # the standard gateway keeps the view's road (the differential suite)
    )
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
                    "idempotency-key",
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
    # subscriptions per caller on this replica, WebSocket and SSE together
    caps = SubjectCaps(config.events.max_streams_per_subject)
    metrics.watch_subscriptions(caps.open_by_transport)
    # what an event costs this replica: one read of the contact it names, however many agents
    reads = EventReads(sources, tracing=tracing)
    drain = Drain()  # the process is stopping: /ready 503, SSE streams told to resume elsewhere
    ingest = WebhookIngest(
        config.webhooks,
        events,
        metrics,
        body_timeout=config.server.body_timeout_seconds,
        tracing=tracing,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # the writes first: /ready (the authenticator's keys) must not say ready before the
        # public port is about to listen
        await service.start()
        await authenticator.start()
        if not authenticator.ready:
            log.warning("no signing keys yet: requests get 401 until the JWKS can be fetched")
        try:
            yield
        finally:
            # before the sources (its worker calls the CRM), the broker and the audit log (its
            # hook publishes and audits)
            await service.aclose()
            await authenticator.close()
            await sources.aclose()
            if limiter is not None:
                await limiter.aclose()
            await guard.aclose()  # the audit lines still queued are written first
            await events.aclose()
            telemetry.shutdown()  # the spans still queued are exported

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
                schema,
                sources,
                guard,
                config.server,
                authenticator,
                events,
                caps,
                reads,
                gate,
                telemetry=telemetry,
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
                writes=gate,
                telemetry=telemetry,
                drain=drain,
            ),
            methods=["POST", "OPTIONS"],
            middleware=on_graphql,
        ),
        Route("/webhooks/{system}", ingest, methods=["POST"]),
        # the routing context as a flat map for contact flows: the same operation through the
        # view, behind the same authentication and rate limit (no GraphiQL page here)
        Route(
            ROUTING_PATH,
            RoutingEndpoint(view),
            methods=["GET"],
            middleware=[
                Middleware(BearerAuth, authenticator, ide=False),
                *([Middleware(RateLimit, limiter, config.rate_limit)] if limiter else []),
            ],
        ),
    ]
    if ide_enabled(config.server):
        routes.append(Mount("/_graphiql", app=graphiql_assets_app()))
    if config.server.profile == "development":  # the reference agent desktop (issue #17)
        routes += desktop_routes(config.writes.disposition_codes, demo_roles)
    # RequestId and ErrorEnvelope around every route: any refusal below them (the body limit's
    # 413, strawberry's 400s and 405, a refused CORS preflight, an unknown path) leaves as JSON
    # with its code and request id. The body limit is on /graphql only: no other route reads one.
    access_lines = config.logging.access and config.server.access_log
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(RequestId),
            # one line per request, stream, socket and webhook (gateway/observability/logs.py)
            *([Middleware(AccessLog, tuple(config.webhooks))] if access_lines else []),
            Middleware(ErrorEnvelope),
        ],
    )
    # /ready and /metrics: the internal port's app (gateway.http.admin.admin_app_of(app))
    app.state.admin = admin_app(Readiness(sources, authenticator, drain=drain), metrics, service)
    app.state.drain = drain  # set by `switchboard serve` on SIGTERM (gateway/http/serving.py)
    app.state.events = events  # the broker: subscriptions read from it
    app.state.caps = caps
    app.state.metrics = metrics
    app.state.writes = service  # gateway.writes.Writes: the mutations submit through it
    app.state.telemetry = telemetry
    return app
