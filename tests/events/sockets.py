"""Real sockets for the subscription tests: a sandbox whose simulated calls post signed webhooks
to a gateway, and graphql-transport-ws clients of that gateway's `/graphql`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect

from gateway.app import create_app
from gateway.config import build_config
from gateway.demo import demo_config
from sources.sandbox.client import mint_token, stats
from sources.sandbox.server import background_server
from tests.events.payloads import SECRET, signed
from tests.support.canary import canary_app as sandbox_app


@dataclass(frozen=True)
class Servers:
    gateway: str
    sandbox: str
    app: Starlette

    @property
    def ws(self) -> str:
        return self.gateway.replace("http://", "ws://") + "/graphql"

    def token(self, sub: str, ttl: int = 3600, roles: tuple[str, ...] = ("agent",)) -> str:
        return asyncio.run(mint_token(self.sandbox, sub=sub, roles=list(roles), ttl=ttl))

    @property
    def subscribers(self) -> int:
        """The broker's live subscriptions."""
        count: int = self.app.state.events.subscribers
        return count

    async def calls(self) -> dict[str, int]:
        """Back-end calls so far, as {"crm GET /customers": n}; zeros left out."""
        counters = await stats(self.sandbox)
        return {
            f"{system} {route}": n
            for system, counted in counters.items()
            if isinstance(counted, dict)
            for route, n in counted.get("by_route", {}).items()
            if n
        }

    async def webhook(self, system: str, payload: Any) -> None:
        body, headers = signed(payload)
        async with httpx.AsyncClient(base_url=self.gateway, timeout=10) as http:
            response = await http.post(f"/webhooks/{system}", content=body, headers=headers)
        assert response.status_code < 300, response.text


@contextmanager
def serving(**config: Any) -> Iterator[Servers]:
    """The sandbox first (the gateway's sources point at it), posting its webhooks nowhere until
    the gateway is up: then to the gateway's port. `config`: gateway settings over the demo's."""
    sandbox = sandbox_app(
        customers=300, webhook_url="http://127.0.0.1:9/webhooks", webhook_secret=SECRET
    )
    with background_server(sandbox, lifespan="off", before_exit=sandbox.abort_hanging) as sb:
        port = int(sb.rsplit(":", 1)[1])
        raw = demo_config(0, port, cors_origins=["https://desk.example"])
        raw["webhooks"] = {s: {"secrets": [SECRET]} for s in ("ccaas", "crm", "core")}
        raw.update(config)
        app = create_app(build_config(raw, env={}))
        with background_server(app, websockets=True) as gw:
            assert sandbox.poster is not None
            sandbox.poster.base = f"{gw}/webhooks"
            yield Servers(gw, sb, app)


async def open_socket(url: str, token: str | None, **kwargs: Any) -> ClientConnection:
    ws = await connect(url, subprotocols=["graphql-transport-ws"], **kwargs)  # type: ignore[list-item]
    payload = {} if token is None else {"Authorization": f"Bearer {token}"}
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    return ws


async def subscribe(
    ws: ClientConnection, query: str, variables: dict[str, Any], op_id: str = "1"
) -> None:
    """Wait for the ack (first subscription of the socket only), then subscribe."""
    if op_id == "1":
        ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert ack["type"] == "connection_ack"
    payload = {"query": query, "variables": variables}
    await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))


async def frames(ws: ClientConnection, n: int, wait: float = 15) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while len(found) < n:
        frame = json.loads(await asyncio.wait_for(ws.recv(), wait))
        if frame["type"] != "ping":
            found.append(frame)
    return found


async def until(check: Any, attempts: int = 500) -> bool:
    """Poll `check()` (every 10 ms, 5 s at most): for state settled by another thread."""
    for _ in range(attempts):
        if check():
            return True
        await asyncio.sleep(0.01)
    return bool(check())
