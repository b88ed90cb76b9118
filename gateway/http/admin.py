"""The operations endpoints: `/ready` and `/metrics` on an internal port, never the public one.

Both say something about the deployment (which systems answer, each circuit's state, what ran
how often) and `/ready` costs the systems a call each, so they are served by a second ASGI app
that `switchboard serve` binds to `[server] admin_host`/`admin_port` (127.0.0.1 by default): an
orchestrator's probes and a Prometheus scraper reach it, clients do not. `/health` (the
process is up; no calls, no details) stays on the public port and is repeated here.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.auth.authenticator import Authenticator
from gateway.http.drain import Drain
from gateway.observability.metrics import CONTENT_TYPE_LATEST, Metrics
from gateway.writes import NotADeadLetter, Writes
from sources import Sources

__all__ = ["READY_TTL_SECONDS", "Readiness", "admin_app", "admin_app_of"]

READY_TTL_SECONDS = 1.0
"""A readiness answer is reused this long: however often `/ready` is asked, each system gets at
most one probe a second."""


class Readiness:
    """Each system's API answers (one GET of its `health_path`), and the token keys are loaded.

    One check at a time (callers arriving meanwhile wait for it) and its answer cached for
    `ttl` seconds, so `/ready` cannot be turned into load on the systems of record."""

    def __init__(
        self,
        sources: Sources,
        authenticator: Authenticator,
        ttl: float = READY_TTL_SECONDS,
        drain: Drain | None = None,
    ) -> None:
        self.sources = sources
        self.authenticator = authenticator
        self.drain = drain or Drain()
        """Set when the process begins to stop: not ready from then on, without probing."""
        self.ttl = ttl
        self.probes = 0
        """Checks run (each probes every system once)."""
        self._lock = asyncio.Lock()
        self._checked: tuple[float, dict[str, str]] | None = None

    async def checks(self) -> dict[str, str]:
        async with self._lock:
            cached = self._checked
            if cached is not None and time.monotonic() - cached[0] < self.ttl:
                return cached[1]
            transports = self.sources.transports()
            self.probes += 1
            up = await asyncio.gather(*(t.probe() for t in transports.values()))
            checks = {
                name: "ok" if ok else "unreachable" for name, ok in zip(transports, up, strict=True)
            }
            self._checked = (time.monotonic(), checks)  # replaced, never mutated
            return checks

    async def report(self) -> tuple[bool, dict[str, Any]]:
        if self.drain.draining:  # stopping: route new work elsewhere, at once
            return False, {"status": "draining"}
        checks = {**await self.checks()}
        checks["jwks"] = "ok" if self.authenticator.ready else "no keys"
        ok = all(v == "ok" for v in checks.values())
        # An open circuit degrades only that system's fields: shown, but still ready.
        circuits = {name: t.breaker.state for name, t in self.sources.transports().items()}
        body = {"status": "ready" if ok else "not ready", "checks": checks, "circuits": circuits}
        return ok, body


def admin_app(readiness: Readiness, metrics: Metrics, writes: Writes | None = None) -> Starlette:
    """The internal port's app. No lifespan of its own: the public app owns the sources, the
    authenticator and the writes, and both servers run in one process. With `writes`, the
    operator's dead-letter list and replay (`GET /writes/dead-letters?limit=`, `POST
    /writes/{id}/replay`), as `switchboard writes` offers them on the command line."""

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> Response:
        ok, body = await readiness.report()
        return JSONResponse(body, status_code=200 if ok else 503)

    async def metrics_page(request: Request) -> Response:
        await metrics.refresh()  # what is read from a store (the outbox) before rendering
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/metrics", metrics_page, methods=["GET"]),
    ]
    if writes is not None:
        routes.extend(_write_routes(writes))
    return Starlette(routes=routes)


def _write_routes(writes: Writes) -> list[Route]:
    async def dead_letters(request: Request) -> Response:
        text = request.query_params.get("limit", "100")
        if not text.isdigit() or not 1 <= int(text) <= 1000:
            return JSONResponse({"error": "limit must be a whole number, 1-1000"}, 400)
        found = await writes.dead_letters(int(text))
        aside = await writes.unreadable(int(text))  # records that could not be read
        return JSONResponse(
            {
                "deadLetters": [record.summary() for record in found],
                "unreadable": [record.summary() for record in aside],
            }
        )

    async def replay(request: Request) -> Response:
        try:
            result = await writes.replay(request.path_params["write_id"])
        except NotADeadLetter:
            return JSONResponse({"error": "not a dead letter"}, 404)
        return JSONResponse({"writeId": result.write_id, "status": result.status})

    return [
        Route("/writes/dead-letters", dead_letters, methods=["GET"]),
        Route("/writes/{write_id}/replay", replay, methods=["POST"]),
    ]


def admin_app_of(app: Starlette) -> Starlette:
    """The internal app `create_app` built alongside the public one."""
    admin = getattr(app.state, "admin", None)
    if not isinstance(admin, Starlette):
        raise TypeError("not an app made by gateway.app.create_app")
    return admin
