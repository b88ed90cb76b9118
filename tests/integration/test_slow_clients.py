"""Slow clients, over real sockets against `switchboard serve`: headers that never finish, a body
trickled in, more connections than the process takes. None may hold the gateway's resources
past its settings."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.types import Message

from gateway.http.view import _receive_by
from sources.sandbox.client import mint_token

from .served import Served, switchboard_serve

HANG_GUARD = 30.0
"""Seconds after which a test gives up waiting for the server (it would otherwise hang)."""

PARTIAL = b"POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: appl"


@pytest.fixture(scope="module")
def served(sandbox_url: str) -> Iterator[Served]:
    settings = "header_timeout_seconds = 1.0\nmax_connections = 400\n"
    with switchboard_serve(sandbox_url, settings) as served:
        yield served


@contextlib.asynccontextmanager
async def _partial_requests(port: int, count: int) -> AsyncIterator[list[asyncio.StreamReader]]:
    """`count` connections, each with half a request's headers sent."""
    readers, writers = [], []
    try:
        for _ in range(count):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writers.append(writer)
            readers.append(reader)
            with contextlib.suppress(ConnectionError):
                writer.write(PARTIAL)
                await writer.drain()
        yield readers
    finally:
        for writer in writers:
            writer.close()


async def _closed(reader: asyncio.StreamReader) -> bytes:
    """What the server sent until it closed the connection."""
    try:
        return await reader.read()
    except ConnectionError:
        return b""


async def test_connections_whose_headers_never_finish_are_closed(served: Served) -> None:
    async with _partial_requests(served.port, 300) as readers:
        async with httpx.AsyncClient(base_url=served.url) as http:
            assert (await http.get("/health")).status_code == 200  # still serving meanwhile
        answers = await asyncio.wait_for(asyncio.gather(*map(_closed, readers)), HANG_GUARD)
    # every one closed by the server, answered 408 (on a loaded machine, a connection may be
    # closed before its half request was even sent: the reset then discards the 408)
    lines = {answer.split(b"\r\n", 1)[0] for answer in answers}
    assert lines <= {b"HTTP/1.1 408 Request Timeout", b""}
    assert b"HTTP/1.1 408 Request Timeout" in lines


async def test_an_authenticated_body_trickled_in_gets_408_by_the_deadline(
    served: Served, sandbox_url: str
) -> None:
    token = await mint_token(sandbox_url, sub="agent-0001", roles=["agent"])
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    head = (
        "POST /graphql HTTP/1.1\r\nHost: gateway\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n"
    )
    writer.write(head.encode() + b'{"query": "{ __typename }"')

    async def trickle() -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.2)

    trickling = asyncio.create_task(trickle())
    try:
        answer = await asyncio.wait_for(reader.read(), HANG_GUARD)
    finally:
        trickling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await trickling
        writer.close()
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 408")
    assert json.loads(body)["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"


async def test_connections_beyond_the_cap_are_answered_503(sandbox_url: str) -> None:
    settings = "header_timeout_seconds = 120.0\nmax_connections = 10\n"
    with switchboard_serve(sandbox_url, settings) as capped:
        async with (
            _partial_requests(capped.port, 9),
            httpx.AsyncClient(base_url=capped.url) as http,
        ):
            refused = await http.get("/health")
        async with httpx.AsyncClient(base_url=capped.url) as http:
            for _ in range(200):  # until the server has seen the closes (counted, not timed)
                answered = await http.get("/health", headers={"connection": "close"})
                if answered.status_code == 200:
                    break
                await asyncio.sleep(0.05)
    assert refused.status_code == 503
    assert answered.status_code == 200


async def test_only_the_body_read_is_bounded_by_the_deadline() -> None:
    """After the body is in, `receive` waits as long as the server's does (a response may wait
    on it for the client's disconnect)."""
    messages: list[Message] = [
        {"type": "http.request", "body": b"{}", "more_body": False},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        if len(messages) == 1:
            await asyncio.sleep(0)  # the disconnect is waited for
        return messages.pop(0)

    bounded = _receive_by(receive, time.monotonic())  # the deadline has passed
    assert (await bounded())["type"] == "http.request"
    assert (await bounded())["type"] == "http.disconnect"
