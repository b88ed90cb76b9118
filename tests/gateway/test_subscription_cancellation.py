"""A subscription whose socket is cut while a frame is being built leaves nothing behind, on
both executions: the gateway serves from this test's own event loop (so every task it starts
is visible here), the event's frame waits on a back-end call held at a gate, the client's TCP
connection is aborted (no close frame), and then: the operation's task, the feed and its
broker subscription are gone before the held call is answered; once it is, no task at all."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from websockets.asyncio.client import connect

from gateway.app import create_app
from gateway.config import build_config
from gateway.demo import demo_config
from gateway.events.broker import InProcessBroker
from gateway.masking.guard import Guard
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from gateway.observability.audit import AuditLog
from sources import Sources, SourceSettings
from sources.sandbox import create_app as sandbox_app
from sources.sandbox.client import mint_token, sample_customers, start_contact
from sources.sandbox.server import background_server
from sources.transport import Exchange, open_exchange
from sources.transport.exchange import Params
from tests.support.subscribing import contact_event

POP = """subscription {
  screenPops { event customers { id fullName accounts { id balance } cards { id pan } } }
}"""
"""Two fields of one system under the payload: on compiled execution, two tasks of the frame."""


class Gate:
    """Holds the core system's calls until opened, counting them."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.calls = 0

    def factory(self, settings: SourceSettings) -> Exchange:
        return _Gated(open_exchange(settings), self if settings.name == "core" else None)


class _Gated:
    def __init__(self, inner: Exchange, gate: Gate | None) -> None:
        self.inner = inner
        self.gate = gate

    @property
    def kind(self) -> str:
        return self.inner.kind

    async def get(self, path: str, params: Params) -> bytes:
        if self.gate is not None:
            self.gate.calls += 1
            await self.gate.opened.wait()
        return await self.inner.get(path, params)

    async def patch(self, path: str, body: bytes) -> tuple[int, bytes]:
        return await self.inner.patch(path, body)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with background_server(sandbox_app(customers=50), lifespan="off") as url:
        yield url


@asynccontextmanager
async def _serving(app: Starlette) -> AsyncIterator[str]:
    """The app on a free port, served by uvicorn in this loop (lifespan on)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", ws="auto", log_level="warning")
    server = uvicorn.Server(config)
    running = asyncio.ensure_future(server.serve(sockets=[listener]))
    try:
        await _until(lambda: server.started or running.done())
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        await running
        listener.close()


async def _until(condition: Callable[[], bool]) -> None:
    """Loop steps, then short waits (a socket, a thread), until `condition`: no time limit
    is asserted, only that it comes."""
    for step in range(3000):
        if condition():
            return
        await asyncio.sleep(0 if step < 200 else 0.01)
    raise AssertionError("not reached")


def _others() -> set[asyncio.Task[Any]]:
    return asyncio.all_tasks() - {asyncio.current_task()}


@pytest.mark.parametrize("execution", ["compiled", "standard"])
async def test_a_socket_cut_mid_frame_leaves_no_task_behind(sandbox: str, execution: str) -> None:
    gate = Gate()
    raw = demo_config(0, int(sandbox.rsplit(":", 1)[1]), execution)
    config = build_config(raw, env={})
    sources = Sources.open(config.sources, exchange=gate.factory)
    guard = Guard(Policy.load(), Masker(b"cancellation"), AuditLog(lambda lines: None))
    app = create_app(config, sources=sources, guard=guard)
    broker = app.state.events
    assert isinstance(broker, InProcessBroker)
    agent = f"agent-cut-{execution}"
    token = await mint_token(sandbox, sub=agent, roles=["agent"])
    customer = (await sample_customers(sandbox, 1))[0]["id"]
    contact = await start_contact(sandbox, customer_id=customer, agent_id=agent)
    async with _serving(app) as url:
        # the audit writer is the app's, started by its first lines: started now
        assert guard.audit.reserve()
        await guard.audit.submit(b"{}\n")
        before = _others()
        ws = await connect(url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": POP}}))
        await _until(lambda: broker.subscribers == 1)
        await broker.publish(contact_event("interaction.connected", contact, agent))
        await _until(lambda: gate.calls == 2)  # the frame is being built: accounts and cards
        building = _names(_others() - before)
        assert {"run_asgi", "run_operation"} <= building  # the socket's and the frame's
        assert ("_complete" in building) is (execution == "compiled")
        socket_served = [t for t in _others() - before if _name(t) == "run_asgi"]
        assert ws.transport is not None
        ws.transport.abort()  # no close frame: the connection is simply gone
        await _until(lambda: all(t.done() for t in socket_served))
        # the socket's ASGI call is over, and with it, while the call is still held: the feed
        # and its broker subscription (closed, not left to the garbage collector), ...
        assert broker.subscribers == 0
        await asyncio.sleep(0)  # (what the call's end cancelled, the expiry watch, ends too)
        # ... the operation and the frame's fields; only the loader's batch (already sent: it
        # completes whoever asked) and the client's own tasks remain
        assert _names(_others() - before) - {"keepalive"} <= {"dispatch_queue_batch"}
        gate.opened.set()
        await _until(lambda: _others() == before)
        assert gate.calls == 2  # nothing asked again
    await sources.aclose()
    await guard.aclose()


def _name(task: asyncio.Task[Any]) -> str:
    """What the task runs: its coroutine's name, without its class."""
    name: str = getattr(task.get_coro(), "__qualname__", "")
    return name.rpartition(".")[2]


def _names(tasks: set[asyncio.Task[Any]]) -> set[str]:
    return {_name(t) for t in tasks}
