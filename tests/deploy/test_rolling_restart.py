"""A rolling restart under load, over real sockets: two gateway replicas (A and B) on one real
redis-server, 50 agents with a live `screenPops` subscription each, half on A and half on B.
Replica A is restarted (SIGTERM, then started again) while simulated calls keep coming: its
agents' WebSockets are closed with 1012 and its SSE streams end with the drain's comment, and
they reconnect to B with their last cursor (Last-Event-ID for SSE), as a desktop behind a load
balancer does. Every agent sees every event of its calls once, in its
stream's order, and A's drain ends within `[server] drain_seconds`.

The sandbox's webhooks reach B (the load balancer sends them to a ready replica; a delivery
refused by a stopping replica is retried by the vendor, tests/events/test_replicas.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from gateway.events.mapping import SYSTEMS
from sources.sandbox import create_app as sandbox_app
from sources.sandbox.client import mint_token, sample_customers, start_call
from sources.sandbox.server import background_server
from tests.events.payloads import SECRET
from tests.support.processes import gateway_starting
from tests.support.redis import redis_server

AGENTS = 50
DRAIN = 5.0
ENV = {"SWITCHBOARD_SERVER_DRAIN_SECONDS": str(DRAIN)}
POP = """subscription ($after: String) {
  screenPops(after: $after) { cursor event interaction { id agentId } }
}"""
EVENTS = ("OFFERED", "CONNECTED", "VERIFIED")


@dataclass
class Desktop:
    """One agent's client: subscribed to a replica, reconnecting with its last cursor."""

    agent: str
    token: str
    replica: Callable[[], str]
    """Where the load balancer sends a (re)connection now."""
    seen: list[tuple[str, str]] = field(default_factory=list)
    cursors: list[tuple[int, ...]] = field(default_factory=list)
    closes: list[int | str | None] = field(default_factory=list)
    """How each connection ended: a WebSocket close code; for SSE "resume" (the drain's
    comment, no `complete`) or "cut"."""
    dropped: int = 0
    """EVENTS_DROPPED frames (the subscriber fell behind a burst): resubscribed from the
    cursor it names, as docs/integrating.md asks of a client."""
    resume: str | None = None
    registered: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, first: str) -> None:
        url = first
        while True:
            try:
                ws = await self._subscribe(url)
            except OSError:  # that replica is gone: where the load balancer says
                url = self.replica()
                continue
            try:
                while True:
                    frame = json.loads(await self._next(ws))
                    if frame["type"] in ("ping", "pong"):
                        continue
                    assert frame["type"] == "next", frame
                    if not self.take(frame["payload"]):
                        await ws.close()  # and again, on the same replica
                        break
            except ConnectionClosed as closed:
                self.closes.append(closed.rcvd.code if closed.rcvd else None)
                url = self.replica()

    def take(self, payload: dict[str, Any]) -> bool:
        """A frame's payload: a pop recorded (True), or EVENTS_DROPPED (False: subscribe again
        from the cursor it names, as docs/integrating.md asks of a client)."""
        if payload.get("errors"):
            [error] = payload["errors"]
            assert error["extensions"]["code"] == "EVENTS_DROPPED", payload
            self.dropped += 1
            self.resume = error["extensions"]["resumeFrom"]
            return False
        pop = payload["data"]["screenPops"]
        self.resume = pop["cursor"]
        assert pop["interaction"]["agentId"] == self.agent
        self.seen.append((pop["interaction"]["id"], pop["event"]))
        self.cursors.append(tuple(int(p) for p in pop["cursor"].split("-")))
        self.registered.set()
        return True

    async def _next(self, ws: ClientConnection) -> str | bytes:
        """The next frame; a desktop told to stop (cancelled) closes its socket first."""
        try:
            return await ws.recv()
        except asyncio.CancelledError:
            await ws.close()
            raise

    async def _subscribe(self, url: str) -> ClientConnection:
        protocols = [Subprotocol("graphql-transport-ws")]
        ws = await connect(url.replace("http://", "ws://") + "/graphql", subprotocols=protocols)
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {self.token}"}}
        await ws.send(json.dumps(init))
        assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "connection_ack"
        payload = {"query": POP, "variables": {"after": self.resume}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        return ws


class SseDesktop(Desktop):
    """The same desktop over SSE (`POST /graphql/stream`), resuming with Last-Event-ID."""

    async def run(self, first: str) -> None:
        url = first
        async with httpx.AsyncClient(timeout=httpx.Timeout(30, read=None)) as http:
            while True:
                headers = {"authorization": f"Bearer {self.token}", "accept": "text/event-stream"}
                if self.resume is not None:
                    headers["last-event-id"] = self.resume
                try:
                    async with http.stream(
                        "POST", f"{url}/graphql/stream", json={"query": POP}, headers=headers
                    ) as response:
                        assert response.status_code == 200
                        ended = await self._read(response)
                except httpx.TransportError:  # that replica is gone
                    url = self.replica()
                    continue
                if ended is not None:
                    self.closes.append(ended)
                    url = self.replica()

    async def _read(self, response: httpx.Response) -> str | None:
        """Until the stream ends: "resume" or "cut"; None after EVENTS_DROPPED."""
        event, data, told = "", "", False
        async for line in response.aiter_lines():
            if line.startswith(":"):
                told = told or "reconnect with Last-Event-ID" in line
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
            elif line == "":
                if event == "next" and not self.take(json.loads(data)):
                    return None
                assert event != "complete", "a subscription is never complete here"
                event, data = "", ""
        return "resume" if told else "cut"


def test_restarting_one_of_two_replicas_under_50_subscriptions_loses_nothing() -> None:
    sandbox = sandbox_app(
        customers=100, webhook_url="http://127.0.0.1:9/webhooks", webhook_secret=SECRET
    )
    assert sandbox.poster is not None
    sandbox.poster.attempts = 20
    toml = "".join(f'[webhooks.{system}]\nsecrets = ["{SECRET}"]\n\n' for system in SYSTEMS)
    with (
        redis_server() as redis_url,
        background_server(sandbox, lifespan="off", before_exit=sandbox.abort_hanging) as sb,
    ):
        toml += f'[events]\nredis_url = "{redis_url}"\n'
        with gateway_starting(sb, toml, ENV) as a_starting, gateway_starting(sb, toml, ENV) as b_s:
            a, _ = a_starting.ready()
            b, _ = b_s.ready()
            sandbox.poster.base = f"{b}/webhooks"

            async def scenario() -> tuple[list[Desktop], list[str], int | None]:
                customers = [c["id"] for c in await sample_customers(sb, AGENTS)]
                agents = [f"agent-roll-{i:02d}" for i in range(AGENTS)]
                tokens = [await mint_token(sb, sub=agent, roles=["agent"]) for agent in agents]
                # on A: WebSockets and (every fourth agent) SSE streams; on B: WebSockets
                desktops = [
                    (SseDesktop if i % 4 == 2 else Desktop)(agent, t, lambda: b)
                    for i, (agent, t) in enumerate(zip(agents, tokens, strict=True))
                ]
                clients = [
                    asyncio.create_task(d.run(a if i % 2 == 0 else b))
                    for i, d in enumerate(desktops)
                ]
                calls: list[str] = []

                async def call_round() -> None:
                    """A call per agent, one after another: a steady flow, not a burst (a
                    burst of 150 events outruns each subscriber's queue: EVENTS_DROPPED)."""
                    for customer, agent in zip(customers, agents, strict=True):
                        calls.append(
                            await start_call(sb, customer, agent, ring_ms=0, idv_after_ms=0)
                        )
                        await asyncio.sleep(0.02)

                # a subscription is registered with the broker once a call of its agent pops
                # (a call before that is not replayed to a subscription without a cursor):
                # one call per agent until it has, and those calls are left out of the count
                for customer, desktop in zip(customers, desktops, strict=True):
                    while not desktop.registered.is_set():
                        await start_call(sb, customer, desktop.agent, ring_ms=0, idv_after_ms=0)
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(desktop.registered.wait(), 5)
                await call_round()  # calls under way as A is told to stop
                a_starting.process.send_signal(signal.SIGTERM)
                await call_round()  # ... while it drains
                exit_code = await asyncio.to_thread(_exit_code, a_starting.process)
                with gateway_starting(sb, toml, ENV) as again:
                    await asyncio.to_thread(again.ready)
                    await call_round()  # ... and once it is back
                    await _until(lambda: all(set(d.seen) >= _expected(d, calls) for d in desktops))
                for client in clients:
                    client.cancel()
                await asyncio.gather(*clients, return_exceptions=True)
                return desktops, calls, exit_code

            desktops, calls, exit_code = asyncio.run(scenario())

    assert exit_code == 0  # A stopped within its drain time
    on_a = desktops[::2]
    # told: service restart (WebSocket 1012; SSE: the resume comment, no `complete`)
    assert [d.closes for d in on_a] == [
        ["resume"] if isinstance(d, SseDesktop) else [1012] for d in on_a
    ]
    assert all(d.closes == [] for d in desktops[1::2])  # B's agents never noticed
    assert len(calls) == 3 * AGENTS
    for i, desktop in enumerate(desktops):
        mine = calls[i::AGENTS]  # each round started one call per agent, in agent order
        seen = [(call, event) for call, event in desktop.seen if call in mine]
        assert sorted(seen) == sorted(_expected(desktop, calls)), (
            desktop.agent
        )  # none lost or twice
        for call in mine:  # each call's events in order
            assert [e for c, e in seen if c == call] == list(EVENTS)
        assert desktop.cursors == sorted(set(desktop.cursors))  # the stream's order, once


def _expected(desktop: Desktop, calls: list[str]) -> set[tuple[str, str]]:
    """The events of the agent's calls of the three rounds (index = the agent's number)."""
    i = int(desktop.agent.rsplit("-", 1)[1])
    return {(call, event) for call in calls[i::AGENTS] for event in EVENTS}


async def _until(condition: Callable[[], bool], seconds: float = 90) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 (the desktops' lists grow; no event to wait on)
            await asyncio.sleep(0.05)


def _exit_code(process: subprocess.Popen[bytes]) -> int | None:
    try:
        return process.wait(timeout=DRAIN + 1)
    except subprocess.TimeoutExpired:
        return None
