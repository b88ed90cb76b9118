"""The operations endpoints: /ready and /metrics only on the internal port, /health on both;
readiness asks each system's API (not a TCP connect), at most once a second, outside the
circuit breakers."""

from __future__ import annotations

import asyncio

import httpx

from gateway.app import create_app
from gateway.auth.authenticator import Authenticator
from gateway.config import build_config
from gateway.demo import demo_config
from gateway.http.admin import Readiness, admin_app_of
from sources import Sources

from .conftest import Gateway
from .served import switchboard_serve


async def test_ready_and_metrics_are_not_on_the_public_port(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as public:
        assert (await public.get("/ready")).status_code == 404
        assert (await public.get("/metrics")).status_code == 404
        assert (await public.get("/health")).json() == {"status": "ok"}
    async with httpx.AsyncClient(base_url=gateway.admin) as admin:
        assert (await admin.get("/ready")).status_code == 200
        metrics = await admin.get("/metrics")
        assert metrics.status_code == 200 and "switchboard_operations" in metrics.text


async def test_switchboard_serve_serves_the_internal_port_from_config(sandbox_url: str) -> None:
    with switchboard_serve(sandbox_url) as served:
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{served.url}/ready")).status_code == 404
            assert (await http.get(f"{served.url}/metrics")).status_code == 404
            assert (await http.get(f"{served.url}/health")).status_code == 200
            ready = await http.get(f"{served.admin}/ready")
            assert ready.status_code == 200 and ready.json()["status"] == "ready"
            assert (await http.get(f"{served.admin}/metrics")).status_code == 200


async def test_readiness_asks_each_systems_api_not_just_its_port(sandbox_url: str) -> None:
    """A port that accepts connections but does not serve the system's API is not ready."""
    raw = demo_config(9, int(sandbox_url.rsplit(":", 1)[1]))
    raw["sources"]["core"]["base_url"] = f"{sandbox_url}/no-such-system"
    app = admin_app_of(create_app(build_config(raw, env={})))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://admin"
    ) as http:
        response = await http.get("/ready")
    checks = response.json()["checks"]
    assert response.status_code == 503
    assert checks["core"] == "unreachable" and checks["crm"] == "ok"
    assert response.json()["circuits"]["core"] == "closed"  # readiness never feeds the breaker


async def test_readiness_probes_the_systems_once_however_often_it_is_asked(
    sandbox_url: str,
) -> None:
    config = build_config(demo_config(9, int(sandbox_url.rsplit(":", 1)[1])), env={})
    sources = Sources.open(config.sources)
    try:
        readiness = Readiness(sources, Authenticator(config.auth), ttl=3600)
        answers = await asyncio.gather(*(readiness.checks() for _ in range(20)))
        answers.append(await readiness.checks())
    finally:
        await sources.aclose()
    assert readiness.probes == 1
    assert all(a == {"crm": "ok", "core": "ok", "ccaas": "ok", "knowledge": "ok"} for a in answers)
