"""The client side of `python -m bench.events`: many agents' `screenPops` subscriptions in this
one process, and the signed webhooks that drive them.

A thousand WebSocket clients fit on a 2-core machine as sockets on one event loop (aiohttp), not
as processes or threads: each agent is a socket with its own token, its own graphql-transport-ws
subscription and a reader task that timestamps every frame the moment aiohttp hands it over
(before it is decoded). An idle socket costs the loop nothing. The webhooks are posted from the
same loop over a keep-alive connection, timestamped immediately before the POST is handed to
aiohttp, so both ends of the measured interval are read from one clock (`time.perf_counter`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from sources.sandbox.webhooks import sign

__all__ = ["Agent", "Arrival", "Fleet", "Posted"]

PROTOCOL = "graphql-transport-ws"
CONNECT_CONCURRENCY = 32
"""Handshakes in flight at once while connecting agents (each verifies a JWT in the gateway)."""
KEEPALIVE_S = 2.0


@dataclass(frozen=True, slots=True)
class Arrival:
    """One `next` frame of a subscription: when it arrived and what it carried."""

    at: float
    agent: str
    errors: int
    customers: int
    error_codes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Posted:
    """One signed webhook: when the POST was handed over, and when its 2xx came back (the
    gateway answers after publishing to the broker)."""

    at: float
    acked: float
    status: int


@dataclass(slots=True)
class Agent:
    name: str
    token: str
    url: str
    """The /graphql WebSocket URL of the replica this agent is connected to."""
    ws: aiohttp.ClientWebSocketResponse | None = None
    reader: asyncio.Task[None] | None = None
    ended: str | None = None
    """Why its subscription ended (an `error` or `complete` frame, or the socket closing)."""


@dataclass(slots=True)
class Fleet:
    """Every agent's socket, and the frames they received keyed by (interaction, event)."""

    document: str
    session: aiohttp.ClientSession
    agents: dict[str, Agent] = field(default_factory=dict)
    arrivals: dict[tuple[str, str], list[Arrival]] = field(default_factory=dict)
    waiting: dict[tuple[str, str], asyncio.Future[Arrival]] = field(default_factory=dict)
    other_frames: int = 0
    """`next` frames that were not a screen pop (an error frame of the subscription)."""

    @classmethod
    def open(cls, document: str) -> Fleet:
        # no connection limit: every WebSocket holds its connection for as long as it lives
        # and idle HTTP connections closed before a server's keep-alive timeout (uvicorn's 5 s)
        # could close them under a request being written
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=KEEPALIVE_S)
        timeout = aiohttp.ClientTimeout(total=60)
        return cls(document, aiohttp.ClientSession(connector=connector, timeout=timeout))

    async def aclose(self) -> None:
        await self.disconnect(list(self.agents))
        await self.session.close()

    @property
    def connected(self) -> list[str]:
        return [name for name, a in self.agents.items() if a.ws is not None and a.ended is None]

    async def connect(self, agents: list[Agent]) -> None:
        """Open, authenticate and subscribe each agent (already connected ones are skipped)."""
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def one(agent: Agent) -> None:
            async with gate:
                await self._subscribe(agent)

        await asyncio.gather(*(one(a) for a in agents if a.name not in self.agents))

    async def disconnect(self, names: list[str]) -> None:
        for name in names:
            agent = self.agents.pop(name, None)
            if agent is None:
                continue
            if agent.ws is not None:
                await agent.ws.close()
            if agent.reader is not None:
                agent.reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await agent.reader

    async def _subscribe(self, agent: Agent) -> None:
        ws = await self.session.ws_connect(agent.url, protocols=(PROTOCOL,), autoping=True)
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {agent.token}"}}
        await ws.send_str(orjson.dumps(init).decode())
        ack = await ws.receive(timeout=30)
        if ack.type != aiohttp.WSMsgType.TEXT or orjson.loads(ack.data)["type"] != "connection_ack":
            await ws.close()
            raise RuntimeError(f"{agent.name}: no connection_ack ({ack.type.name} {ack.extra})")
        subscribe = {"id": "1", "type": "subscribe", "payload": {"query": self.document}}
        await ws.send_str(orjson.dumps(subscribe).decode())
        agent.ws = ws
        agent.reader = asyncio.create_task(self._read(agent, ws))
        self.agents[agent.name] = agent

    async def _read(self, agent: Agent, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            at = time.perf_counter()
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            frame: dict[str, Any] = orjson.loads(message.data)
            kind = frame.get("type")
            if kind == "ping":
                await ws.send_str('{"type":"pong"}')
            elif kind == "next":
                self._arrived(agent, at, frame.get("payload") or {})
            elif kind in ("error", "complete"):
                agent.ended = f"{kind}: {orjson.dumps(frame.get('payload')).decode()[:300]}"
                return
        agent.ended = agent.ended or f"socket closed ({ws.close_code})"

    def _arrived(self, agent: Agent, at: float, payload: dict[str, Any]) -> None:
        pop = (payload.get("data") or {}).get("screenPops")
        errors = payload.get("errors") or []
        if not isinstance(pop, dict):
            self.other_frames += 1
            return
        codes = tuple(sorted({str((e.get("extensions") or {}).get("code")) for e in errors if e}))
        arrival = Arrival(at, agent.name, len(errors), len(pop.get("customers") or []), codes)
        key = (str(pop["interaction"]["id"]), str(pop["event"]))
        self.arrivals.setdefault(key, []).append(arrival)
        waiter = self.waiting.pop(key, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(arrival)

    def expect(self, interaction: str, event: str) -> asyncio.Future[Arrival]:
        """A future for the first frame of (interaction, event) (set up before the webhook is
        posted, so that a frame faster than the POST's answer is not missed)."""
        future: asyncio.Future[Arrival] = asyncio.get_running_loop().create_future()
        self.waiting[(interaction, event)] = future
        return future

    async def post(self, url: str, secret: str, payload: dict[str, Any]) -> Posted:
        """One Standard Webhooks delivery, signed as the sandbox signs its own."""
        body = orjson.dumps(payload)
        webhook_id = f"msg_{uuid.uuid4().hex}"
        stamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(secret, webhook_id, stamp, body),
        }
        for attempt in range(2):
            at = time.perf_counter()
            try:
                async with self.session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    return Posted(at, time.perf_counter(), response.status)
            except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
                if attempt:  # a kept-alive connection closed under the first: once more
                    raise
        raise AssertionError("unreachable")
