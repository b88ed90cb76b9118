"""Graceful shutdown of `switchboard serve` over real sockets: a gateway process, SIGTERM, and
what an orchestrator's rolling restart needs from it. Readiness turns 503 at once and the port
stops taking connections; the request in flight (a slow back-end, the sandbox's latency fault)
is answered; a WebSocket is closed with 1012 (service restart); an SSE stream ends without
`complete`, telling the client to reconnect with its Last-Event-ID; and the process exits
within `[server] drain_seconds` even when a request would otherwise hold it."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from sources.sandbox import create_app as sandbox_app
from sources.sandbox.client import mint_token, reset_stats, sample_customers, set_fault, stats
from sources.sandbox.server import background_server
from tests.support.processes import ADMIN_URLS, gateway_starting

DRAIN = 4.0
ENV = {"SWITCHBOARD_SERVER_DRAIN_SECONDS": str(DRAIN)}
QUERY = "query($id: ID!) { customer(id: $id) { id accounts { id } } }"
POP = "subscription { screenPops { cursor event } }"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with background_server(sandbox_app(customers=50), lifespan="off") as url:
        yield url


@pytest.fixture
def slow_core(sandbox: str) -> Iterator[None]:
    asyncio.run(set_fault(sandbox, "core", latency_ms=1200))
    yield
    asyncio.run(set_fault(sandbox, "core", latency_ms=0))


def _exit_code(process: subprocess.Popen[bytes]) -> int | None:
    """The process's exit code if it ends within the drain time (and a second), else None."""
    try:
        return process.wait(timeout=DRAIN + 1)
    except subprocess.TimeoutExpired:
        return None


async def _until_core_called(sandbox: str) -> None:
    """Until the slow query's core call has reached the sandbox: it is in flight."""
    for _ in range(200):
        if (await stats(sandbox))["core"]["by_route"] and any(
            (await stats(sandbox))["core"]["by_route"].values()
        ):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the query never reached the core system")


async def _sse_lines(url: str, token: str, opened: asyncio.Event) -> bytes:
    headers = {"authorization": f"Bearer {token}", "accept": "text/event-stream"}
    received = b""
    async with (
        httpx.AsyncClient(timeout=30) as http,
        http.stream("POST", f"{url}/graphql/stream", json={"query": POP}, headers=headers) as r,
    ):
        assert r.status_code == 200
        opened.set()
        async for chunk in r.aiter_bytes():
            received += chunk
    return received


def test_sigterm_drains_requests_sockets_and_streams(sandbox: str, slow_core: None) -> None:
    with gateway_starting(sandbox, env=ENV) as starting:
        url, _ = starting.ready()
        admin = ADMIN_URLS[url]
        process = starting.process

        async def scenario() -> dict[str, Any]:
            token = await mint_token(sandbox, sub="agent-drain", roles=["agent"])
            customer = (await sample_customers(sandbox, 1))[0]["id"]
            protocols = [Subprotocol("graphql-transport-ws")]
            ws = await connect(url.replace("http", "ws") + "/graphql", subprotocols=protocols)
            await ws.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
                )
            )
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": POP}}))
            opened = asyncio.Event()
            sse = asyncio.create_task(_sse_lines(url, token, opened))
            await opened.wait()
            idle = httpx.AsyncClient(base_url=url, timeout=30)  # a kept-alive idle connection
            assert (await idle.get("/health")).status_code == 200
            await reset_stats(sandbox)
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                slow = asyncio.create_task(
                    http.post(
                        "/graphql",
                        json={"query": QUERY, "variables": {"id": customer}},
                        headers={"authorization": f"Bearer {token}"},
                    )
                )
                await _until_core_called(sandbox)
                process.send_signal(signal.SIGTERM)
                async with httpx.AsyncClient(base_url=admin, timeout=5) as probe:
                    ready = (await probe.get("/ready")).status_code
                    while ready == 200:  # the signal is handled between two ticks of the loop
                        await asyncio.sleep(0.02)
                        ready = (await probe.get("/ready")).status_code
                try:
                    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), 2):
                        refused = False
                except ConnectionRefusedError:
                    refused = True
                answer = await slow
            try:
                await asyncio.wait_for(ws.recv(), 30)
                close_code = None
            except ConnectionClosed as closed:
                close_code = closed.rcvd.code if closed.rcvd else None
            streamed = await asyncio.wait_for(sse, 30)
            await idle.aclose()
            return {
                "ready": ready,
                "refused": refused,
                "answer": (answer.status_code, answer.json()),
                "close_code": close_code,
                "streamed": streamed,
            }

        seen = asyncio.run(scenario())
        assert seen["ready"] == 503
        assert seen["refused"]  # the port took no new connection while draining
        status, body = seen["answer"]
        assert status == 200 and "errors" not in body, body  # the request in flight finished
        assert body["data"]["customer"]["accounts"] is not None
        assert seen["close_code"] == 1012  # service restart: reconnect elsewhere
        assert b"reconnect with Last-Event-ID" in seen["streamed"]
        assert b"event: complete" not in seen["streamed"]  # not over: to be resumed
        assert _exit_code(process) == 0


def test_a_stuck_request_does_not_hold_the_process_past_the_drain_time(sandbox: str) -> None:
    """A client that sent a request's headers but not its body (with generous body and request
    deadlines) and an idle kept-alive connection: uvicorn alone waits for both forever."""
    env = {
        **ENV,
        "SWITCHBOARD_SERVER_BODY_TIMEOUT_SECONDS": "120",
        "SWITCHBOARD_SERVER_DEADLINE_SECONDS": "120",
    }
    with gateway_starting(sandbox, env=env) as starting:
        url, _ = starting.ready()
        port = int(url.rsplit(":", 1)[1])
        token = asyncio.run(mint_token(sandbox, sub="agent-stuck", roles=["agent"]))
        with (
            socket.create_connection(("127.0.0.1", port)) as stuck,
            socket.create_connection(("127.0.0.1", port)) as idle,
        ):
            stuck.sendall(
                b"POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                + f"authorization: Bearer {token}\r\ncontent-length: 100\r\n\r\n".encode()
                + b'{"query": '
            )
            idle.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
            assert idle.recv(4096).startswith(b"HTTP/1.1 200")
            starting.process.send_signal(signal.SIGTERM)
            assert _exit_code(starting.process) == 0
