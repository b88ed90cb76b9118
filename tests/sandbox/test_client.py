from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sources.sandbox import background_server
from sources.sandbox.client import (
    mint_token,
    reset_stats,
    sample_customers,
    set_fault,
    start_contact,
    stats,
)


async def test_client_helpers_drive_the_control_surface(base_url: str) -> None:
    customers = await sample_customers(base_url, 2)
    assert len(customers) == 2
    await reset_stats(base_url)
    async with httpx.AsyncClient(base_url=base_url) as http:
        await http.get("/core/risk", params={"partyId": "PTY100000001"})
    assert (await stats(base_url))["core"]["by_route"] == {"GET /risk": 1}
    faults = await set_fault(base_url, "knowledge", latency_ms=1)
    assert faults["knowledge"] == {"mode": "ok", "latency_ms": 1.0, "error_rate": 0.0}
    await set_fault(base_url, "knowledge", latency_ms=0)
    contact_id = await start_contact(base_url, customer_id=customers[1]["id"], agent_id="a-1")
    async with httpx.AsyncClient(base_url=base_url) as http:
        found = (await http.get("/ccaas/contacts", params={"id": contact_id})).json()
    assert found["Contacts"][0]["AgentId"] == "a-1"


async def test_client_mint_token_passes_claims_through(base_url: str) -> None:
    token = await mint_token(base_url, sub="sup-1", roles=["supervisor"], ttl=60, aud="x")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == "x"
    assert claims["roles"] == ["supervisor"]
    assert claims["exp"] - claims["iat"] == 60


def test_background_server_runs_any_asgi_app_with_its_lifespan() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    async def hello(request: Request) -> JSONResponse:
        return JSONResponse({"hello": "world"})

    app = Starlette(routes=[Route("/", hello)], lifespan=lifespan)
    with background_server(app, lifespan="on") as url:
        assert httpx.get(url).json() == {"hello": "world"}
    assert events == ["startup", "shutdown"]
