"""The public server starts each request in a context of its own (issue #18).

uvicorn starts a pipelined request (sent on a kept-alive connection before the previous answer
went out) from inside the previous request's `send`, so the new request's task inherited the
previous request's context: its request scope and deadline, its log and operation context. A
handler that opens no scope of its own (the SSE subscriptions) then ran its back-end calls on
another request's deadline, long past: "core call skipped: no time left". Over real sockets,
through `public_config` as `switchboard serve` uses it, with a real transport."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.config import ServerSettings
from gateway.http.serving import public_config
from sources import SourceError, SourceSettings, Transport, request_scope
from sources.sandbox.server import background_server


async def ok(request: Request) -> Response:
    return Response(b'{"ok": true}', media_type="application/json")


@pytest.fixture(scope="module")
def backend() -> Iterator[str]:
    """A back-end system on a real socket."""
    with background_server(Starlette(routes=[Route("/core/ok", ok)]), lifespan="off") as url:
        yield url


async def _answer(send: Send, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def gateway_like(core: Transport) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["path"] == "/scoped":
            # as the GraphQL view: answered inside its own scope, here one already out of time
            # (a client's X-Request-Timeout-Ms, or a request that ran out of its 2 s)
            with request_scope(0.001):
                await _answer(send, b"scoped")
            return
        # as the SSE endpoint: no scope of its own (a stream has no deadline), so its back-end
        # calls run on whatever scope the context carries
        try:
            await core.get_json("/ok")
        except SourceError as exc:
            await _answer(send, str(exc).encode())
            return
        await _answer(send, b"answered")

    return app


async def test_a_pipelined_request_does_not_run_on_the_previous_requests_deadline(
    backend: str,
) -> None:
    core = Transport(SourceSettings(name="core", base_url=f"{backend}/core", retries=0))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = public_config(
        gateway_like(core),
        ServerSettings(),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # both requests in one write: the second is queued until the first is answered
        writer.write(
            b"GET /scoped HTTP/1.1\r\nhost: t\r\n\r\n"
            b"GET /unscoped HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
        )
        await writer.drain()
        answers = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        await writer.wait_closed()
    finally:
        server.should_exit = True
        await serving
        sock.close()
        await core.aclose()
    assert answers.count(b"HTTP/1.1 200") == 2
    # not "core call skipped: no time left": the first request's deadline was not the second's
    assert answers.endswith(b"answered"), answers.rsplit(b"\r\n", 1)[-1]
