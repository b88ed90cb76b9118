"""The wire client's life in the process: on uvloop (the gateway's loop), and without a
reference cycle per call (tests/integration/test_request_cycles.py at the client's level)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import uvloop

from sources import SourceBadResponse, SourceSettings, SourceUnavailable
from sources.transport import HttpClient, open_exchange
from sources.transport.wire import WireExchange
from tests.support.cycles import cycle_garbage

from .wire_backend import OK, Backend, answer, read_request, serve

Reader = asyncio.StreamReader
Writer = asyncio.StreamWriter


def settings_of(backend: Backend, **more: Any) -> SourceSettings:
    return SourceSettings(**{"name": "core", "base_url": backend.url, "client": "wire", **more})


def wire(backend: Backend) -> WireExchange:
    exchange = open_exchange(settings_of(backend))
    assert isinstance(exchange, WireExchange)
    return exchange


def test_it_runs_on_uvloop_the_servers_loop() -> None:
    """The gateway serves on uvloop, whose transports are not asyncio.Transport subclasses."""

    async def scenario() -> None:
        async with serve(answer) as backend:
            exchange = wire(backend)
            for _ in range(2):
                assert await exchange.get("/x", [("q", "1")]) == b'{"ok":true}'
            await exchange.aclose()
        assert backend.connections == 1

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(scenario())


async def test_answers_and_failures_leave_no_reference_cycle() -> None:
    """A cycle per call (a failure's traceback holding the connection, or the frame awaiting
    the answer) would keep calls alive for the collector: tests/integration/test_request_cycles.py
    at the client's level, a success, a refused status and a cut body."""

    async def script(reader: Reader, writer: Writer, n: int, b: Backend) -> None:
        while await read_request(reader, b) is not None:
            kind = len(b.requests) % 3
            if kind == 1:
                writer.write(OK)
            elif kind == 2:
                writer.write(b"HTTP/1.1 503 Busy\r\nContent-Length: 2\r\n\r\n{}")
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 9000\r\n\r\n")

    async with serve(script) as backend:
        client = HttpClient(settings_of(backend, max_body_bytes=1000))
        for _ in range(3):  # first use (the pool, the parsed path) outside the count
            with contextlib.suppress(SourceUnavailable, SourceBadResponse):
                await client.get_json("/x", [("q", "1")], budget=5)
        with cycle_garbage() as found:
            for _ in range(6):
                with contextlib.suppress(SourceUnavailable, SourceBadResponse):
                    await client.get_json("/x", [("q", "1")], budget=5)
        await client.aclose()
    assert not found
