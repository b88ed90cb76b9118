"""The lean client (`client = "wire"`, sources/transport/wire.py) over real sockets against raw
asyncio back-ends that misbehave byte by byte: each promise of the aiohttp exchange, kept."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sources import (
    SourceBadResponse,
    SourceRateLimited,
    SourceSettings,
    SourceTimeout,
    SourceUnavailable,
)
from sources.transport import HttpClient, open_exchange
from sources.transport import wire as wire_module
from sources.transport.exchange import AiohttpExchange
from sources.transport.wire import WireExchange

from .wire_backend import OK, Backend, answer, read_request, serve

Reader = asyncio.StreamReader
Writer = asyncio.StreamWriter


def wire(backend: Backend, **settings: Any) -> WireExchange:
    exchange = open_exchange(
        SourceSettings(name="core", base_url=backend.url, client="wire", **settings)
    )
    assert isinstance(exchange, WireExchange) and exchange.kind == "wire"
    return exchange


def settings_of(backend: Backend, **more: Any) -> SourceSettings:
    return SourceSettings(**{"name": "core", "base_url": backend.url, "client": "wire", **more})


def respond(raw: bytes) -> Any:
    """A script answering the first request with `raw`, then waiting for the client's EOF."""

    async def script(reader: Reader, writer: Writer, n: int, b: Backend) -> None:
        await read_request(reader, b)
        writer.write(raw)
        await read_request(reader, b)

    return script


def test_an_unknown_client_is_refused_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="client must be one of aiohttp, httpx, wire"):
        SourceSettings(name="core", base_url="http://core.example", client="curl")
    assert SourceSettings(name="core", base_url="http://core.example", client="wire")


async def test_the_request_is_the_one_aiohttp_sends() -> None:
    """The sandbox and the real back ends see the same request line (yarl's query encoding),
    the trace context, and a Host header naming the port."""
    params = [("ids", "a,b c&d+e/f:g@h?i;j=k~l*m'n!o(p)q$r%"), ("name", "Zoë 😀")]
    async with serve(answer) as backend:
        for exchange in (AiohttpExchange(settings_of(backend, client="aiohttp")), wire(backend)):
            assert await exchange.get("/accounts", params, {"traceparent": "00-ab-cd-01"})
            await exchange.aclose()
    aio, ours = (request.split(b"\r\n") for request in backend.requests)
    assert ours[0] == aio[0]
    assert aio[0].startswith(b"GET /sys/accounts?ids=a,b+c%26d%2Be/f:g@h?i%3Bj%3Dk")
    port = backend.url.split(":")[2].split("/")[0]
    assert f"Host: 127.0.0.1:{port}".encode() in ours
    assert b"traceparent: 00-ab-cd-01" in ours and b"Accept: application/json" in ours


async def test_a_header_with_a_line_break_is_refused() -> None:
    async with serve(answer) as backend:
        exchange = wire(backend)
        with pytest.raises(ValueError, match="line break"):
            await exchange.get("/x", [], {"traceparent": "00\r\nx-admin: 1"})
        await exchange.aclose()
    assert backend.requests == []


async def test_a_connection_is_reused_after_a_complete_answer() -> None:
    async with serve(answer) as backend:
        exchange = wire(backend)
        for _ in range(3):
            assert await exchange.get("/x", []) == b'{"ok":true}'
        await exchange.aclose()
    assert backend.connections == 1 and len(backend.requests) == 3


async def test_connection_close_is_honoured() -> None:
    """The server says `Connection: close` but leaves the socket open: the next call must not
    be written to it (it would never be answered)."""
    closing = OK.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
    async with serve(respond(closing)) as backend:
        exchange = wire(backend)
        async with asyncio.timeout(5):
            assert await exchange.get("/x", []) == b'{"ok":true}'
            assert await exchange.get("/x", []) == b'{"ok":true}'
        await exchange.aclose()
    assert backend.connections == 2 and len(backend.requests) == 2  # none on the closing one


async def test_a_chunked_body_is_joined_and_the_connection_reused() -> None:
    async def chunked(reader: Reader, writer: Writer, n: int, b: Backend) -> None:
        while await read_request(reader, b) is not None:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for part in (b'{"a":', b'"' + b"x" * 300 + b'"', b"}"):
                writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                await writer.drain()
            writer.write(b"0\r\n\r\n")

    async with serve(chunked) as backend:
        exchange = wire(backend)
        for _ in range(2):
            assert await exchange.get("/x", []) == b'{"a":"' + b"x" * 300 + b'"}'
        await exchange.aclose()
    assert backend.connections == 1


async def test_a_body_read_until_close() -> None:
    async def until_close(reader: Reader, writer: Writer, n: int, b: Backend) -> None:
        await read_request(reader, b)
        writer.write(b'HTTP/1.1 200 OK\r\n\r\n{"until":')
        await writer.drain()
        writer.write(b'"close"}')
        writer.close()

    async with serve(until_close) as backend:
        exchange = wire(backend)
        assert await exchange.get("/x", []) == b'{"until":"close"}'
        assert await exchange.get("/x", []) == b'{"until":"close"}'
        await exchange.aclose()
    assert backend.connections == 2


async def test_an_oversized_declared_body_is_refused_before_reading() -> None:
    """The body never comes: only refusing on the declared length answers at all."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 50000\r\n\r\n"
    async with serve(respond(head)) as backend:
        exchange = wire(backend, max_body_bytes=10_000)
        async with asyncio.timeout(5):
            with pytest.raises(SourceBadResponse, match="oversized"):
                await exchange.get("/x", [])
        await exchange.aclose()


async def test_an_oversized_streamed_body_is_cut() -> None:
    async def endless(reader: Reader, writer: Writer, n: int, b: Backend) -> None:
        await read_request(reader, b)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(50):
            writer.write(b"400\r\n" + b"a" * 1024 + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await read_request(reader, b)

    async with serve(endless) as backend:
        exchange = wire(backend, max_body_bytes=10_000)
        with pytest.raises(SourceBadResponse, match="oversized"):
            await exchange.get("/x", [])
        assert not exchange._idle  # the connection was dropped, not kept
        await backend.until(lambda: backend.closed_by_client >= 1)
        await exchange.aclose()


@pytest.mark.parametrize(
    ("raw", "then_close"),
    [
        (b"HTTP/1.1 2OO OK\r\n\r\n", False),  # garbage status line
        (b"SSH-2.0-OpenSSH_9.6\r\n", False),  # not HTTP at all
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", False),  # chunk size
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b'{"half": "of it', True),
    ],
)
async def test_malformed_or_cut_answers_are_unavailable(raw: bytes, then_close: bool) -> None:
    async def script(reader: Reader, writer: Writer, n: int, b: Backend) -> None:
        await read_request(reader, b)
        writer.write(raw)
        await writer.drain()
        if not then_close:
            await read_request(reader, b)  # the client must see it is broken by itself

    async with serve(script) as backend:
        exchange = wire(backend)
        async with asyncio.timeout(5):
            with pytest.raises(SourceUnavailable) as caught:
                await exchange.get("/x", [])
        assert "127.0.0.1" not in str(caught.value) and "/sys" not in str(caught.value)
        await exchange.aclose()


async def test_an_unrequested_content_encoding_is_refused() -> None:
    """No Accept-Encoding is sent, so a compressed body is not what was asked for."""
    gzipped = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\n\x1f\x8b"
    async with serve(respond(gzipped)) as backend:
        exchange = wire(backend)
        with pytest.raises(SourceBadResponse, match="encoding"):
            await exchange.get("/x", [])
        await exchange.aclose()
    assert b"accept-encoding" not in backend.requests[0].lower()


async def test_rate_limited_and_unavailable_statuses_are_typed() -> None:
    async def script(reader: Reader, writer: Writer, n: int, b: Backend) -> None:
        await read_request(reader, b)
        if n == 1:
            writer.write(b"HTTP/1.1 429 Too Many\r\nRetry-After: 7\r\nContent-Length: 2\r\n\r\n{}")
        else:
            writer.write(b"HTTP/1.1 503 Busy\r\nContent-Length: 17\r\n\r\ndb01.internal:543")
        await read_request(reader, b)

    async with serve(script) as backend:
        exchange = wire(backend)
        with pytest.raises(SourceRateLimited) as limited:
            await exchange.get("/x", [])
        assert limited.value.retry_after == 7.0
        with pytest.raises(SourceUnavailable) as unavailable:
            await exchange.get("/x", [])
        assert unavailable.value.http_status == 503 and "db01" not in str(unavailable.value)
        await exchange.aclose()


def closes_the_idle_connection_on_the_next_request(n: int) -> Any:
    async def script(reader: Reader, writer: Writer, n: int, b: Backend) -> None:
        await read_request(reader, b)
        writer.write(OK)  # keep-alive, then the server drops it as the next request arrives
        if n == 1:
            await read_request(reader, b)
            writer.transport.abort()
            return
        await read_request(reader, b)

    return script


async def test_a_get_on_a_connection_the_server_closed_is_sent_once_more() -> None:
    async with serve(closes_the_idle_connection_on_the_next_request(1)) as backend:
        exchange = wire(backend)
        assert await exchange.get("/x", []) == b'{"ok":true}'
        assert await exchange.get("/x", []) == b'{"ok":true}'
        await exchange.aclose()
    assert backend.connections == 2


async def test_with_no_retries_a_get_is_never_sent_twice() -> None:
    """`retries = 0` is "never a request twice": not even the resend of a GET on a reused
    connection the server closed (a system that resets every connection after reading the
    request would otherwise see each call twice, and only when a connection was idle)."""
    async with serve(closes_the_idle_connection_on_the_next_request(1)) as backend:
        exchange = wire(backend, retries=0)
        assert await exchange.get("/x", []) == b'{"ok":true}'
        with pytest.raises(SourceUnavailable):
            await exchange.get("/x", [])
        await exchange.aclose()
    assert len(backend.requests) == 2 and backend.connections == 1


async def test_a_patch_on_a_connection_the_server_closed_is_never_resent() -> None:
    async with serve(closes_the_idle_connection_on_the_next_request(1)) as backend:
        exchange = wire(backend)
        assert await exchange.patch("/x", b'{"a":1}') == (200, b'{"ok":true}')
        with pytest.raises(SourceUnavailable):
            await exchange.patch("/x", b'{"a":2}')
        await exchange.aclose()
    assert [r.split(b"\r\n\r\n")[1] for r in backend.requests] == [b'{"a":1}', b'{"a":2}']
    assert backend.connections == 1


async def test_a_trickle_is_cut_by_the_budget_and_its_connection_dropped() -> None:
    async def trickle(reader: Reader, writer: Writer, n: int, b: Backend) -> None:
        await read_request(reader, b)
        if n == 1:  # a few bytes past the budget, then a stall: never a complete answer
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
            for _ in range(10):
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.05)
        else:
            writer.write(OK)
        while await read_request(reader, b) is not None:
            pass

    async with serve(trickle) as backend:
        client = HttpClient(settings_of(backend, max_connections=1, max_in_flight=1))
        with pytest.raises(SourceTimeout):
            await client.get_json("/x", [], budget=0.12)
        assert await client.get_json("/x", [], budget=5) == {"ok": True}  # the slot is free
        await backend.until(lambda: backend.closed_by_client >= 1)  # the cut one, closed
        await client.aclose()
    assert backend.connections == 2 and len(backend.requests) == 2


@pytest.mark.parametrize("limit", [1, 2])
async def test_the_pool_holds_max_connections_and_waiters_go_first_come(limit: int) -> None:
    gate = asyncio.Event()
    active = peak = 0

    async def slow(reader: Reader, writer: Writer, n: int, b: Backend) -> None:
        nonlocal active, peak
        while await read_request(reader, b) is not None:
            active += 1
            peak = max(peak, active)
            await gate.wait()
            active -= 1
            writer.write(OK)

    async with serve(slow) as backend:
        exchange = wire(backend, max_connections=limit, max_in_flight=limit)
        order: list[int] = []

        async def call(i: int) -> None:
            await exchange.get("/x", [("i", str(i))])
            order.append(i)

        tasks = [asyncio.create_task(call(i)) for i in range(6)]
        await backend.until(lambda: len(backend.requests) >= limit)
        tasks[2].cancel()  # a cancelled waiter leaves no slot taken
        gate.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await exchange.aclose()
    assert peak == limit and backend.connections == limit
    sent = [r.split(b" ")[1] for r in backend.requests]
    assert sorted(sent) == [b"/sys/x?i=%d" % i for i in (0, 1, 3, 4, 5)]
    if limit == 1:  # one at a time: in the order they asked
        assert order == [0, 1, 3, 4, 5] and sent == sorted(sent)


async def test_an_idle_connection_past_its_keep_alive_is_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(wire_module, "_KEEPALIVE_SECONDS", 0.05)
    async with serve(answer) as backend:
        exchange = wire(backend)
        assert await exchange.get("/x", []) == b'{"ok":true}'
        await backend.until(lambda: backend.closed_by_client >= 1)  # the sweep closes it, unused
        assert await exchange.get("/x", []) == b'{"ok":true}'
        await exchange.aclose()
    assert backend.connections == 2


async def test_an_idle_connection_is_never_reused_past_its_keep_alive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Even before the sweep has come round (here: it would in 4 s)."""
    async with serve(answer) as backend:
        exchange = wire(backend)
        assert await exchange.get("/x", []) == b'{"ok":true}'
        monkeypatch.setattr(wire_module, "_KEEPALIVE_SECONDS", 0.0)
        assert await exchange.get("/x", []) == b'{"ok":true}'
        await exchange.aclose()
    assert backend.connections == 2


async def test_aclose_closes_every_connection_and_leaves_nothing_behind() -> None:
    async def script(reader: Reader, writer: Writer, n: int, b: Backend) -> None:
        while await read_request(reader, b) is not None:
            if len(b.requests) <= 2:
                writer.write(OK)  # the first two answered, then nothing

    async with serve(script) as backend:
        exchange = wire(backend)
        await asyncio.gather(exchange.get("/x", []), exchange.get("/x", []))  # two idle ones
        busy = asyncio.create_task(exchange.get("/x", []))  # one of them, in flight
        await backend.until(lambda: len(backend.requests) >= 3)
        async with asyncio.timeout(10):
            await exchange.aclose()
            with pytest.raises(SourceUnavailable):
                await busy
        assert not exchange._open and not exchange._idle and exchange._sweeper is None
        with pytest.raises(SourceUnavailable):
            await exchange.get("/x", [])
        await backend.until(lambda: backend.closed_by_client >= 2)
    assert backend.connections == 2
