"""The production HTTP path (the wire client) over real sockets on 127.0.0.1: a small misbehaving
back-end answers each way a system can go wrong, and each maps to the same typed error as on
the mocked path, with no URL in it."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from sources import (
    SourceBadResponse,
    SourceError,
    SourceRateLimited,
    SourceSettings,
    SourceTimeout,
    SourceUnavailable,
    Transport,
    request_scope,
)
from sources.sandbox.server import background_server


async def ok(request: Request) -> Response:
    return Response(
        b'{"ok": true, "q": "%s"}' % request.query_params.get("q", "").encode(),
        media_type="application/json",
    )


async def limited(request: Request) -> Response:
    return Response(b"{}", status_code=429, headers={"retry-after": "7"})


async def broken(request: Request) -> Response:
    return Response(b"Traceback: db01.internal password=x", status_code=500)


async def garbage(request: Request) -> Response:
    return Response(b'{"Data": [tru', media_type="application/json")


async def big(request: Request) -> Response:
    return Response(b'{"x": "' + b"a" * 50_000 + b'"}', media_type="application/json")


async def big_chunked(request: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(50):
            yield b"a" * 1024

    return StreamingResponse(chunks(), media_type="application/json")


async def trickle(request: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            await asyncio.sleep(0.05)
            yield b" "

    return StreamingResponse(chunks(), media_type="application/json")


APP = Starlette(
    routes=[
        Route(f"/sys/{name}", endpoint)
        for name, endpoint in {
            "ok": ok,
            "limited": limited,
            "broken": broken,
            "garbage": garbage,
            "big": big,
            "big_chunked": big_chunked,
            "trickle": trickle,
        }.items()
    ]
)


@pytest.fixture(scope="module")
def backend() -> Iterator[str]:
    with background_server(APP, lifespan="off") as url:
        yield url


def transport(base_url: str, **settings: Any) -> Transport:
    t = Transport(SourceSettings(name="core", base_url=f"{base_url}/sys", retries=0, **settings))
    assert t.http.client == "wire"  # the default
    return t


async def test_answers_are_decoded_and_params_escaped(backend: str) -> None:
    t = transport(backend)
    assert await t.get_json("/ok", [("q", "a&b c")]) == {"ok": True, "q": "a&b c"}
    await t.aclose()


@pytest.mark.parametrize(
    ("path", "error", "settings"),
    [
        ("/limited", SourceRateLimited, {}),
        ("/broken", SourceUnavailable, {}),
        ("/garbage", SourceBadResponse, {}),
        ("/big", SourceBadResponse, {"max_body_bytes": 10_000}),
        ("/big_chunked", SourceBadResponse, {"max_body_bytes": 10_000}),
        ("/missing", SourceBadResponse, {}),
    ],
)
async def test_misbehaviour_maps_to_typed_errors_without_urls(
    backend: str, path: str, error: type[SourceError], settings: dict[str, Any]
) -> None:
    t = transport(backend, **settings)
    with pytest.raises(error) as caught:
        await t.get_json(path)
    text = str(caught.value)
    assert "127.0.0.1" not in text and "db01" not in text and "/sys" not in text
    if isinstance(caught.value, SourceRateLimited):
        assert caught.value.retry_after == 7.0
    await t.aclose()


async def test_a_trickle_is_cut_at_the_deadline(backend: str) -> None:
    t = transport(backend)
    started = time.monotonic()
    with request_scope(timeout=0.3, margin=0.0), pytest.raises(SourceTimeout):
        await t.get_json("/trickle")
    assert time.monotonic() - started < 1.5
    await t.aclose()


async def test_a_refused_connection_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    t = transport(f"http://127.0.0.1:{port}")
    with pytest.raises(SourceUnavailable) as caught:
        await t.get_json("/ok")
    assert str(port) not in str(caught.value)
    await t.aclose()


@pytest.mark.parametrize("client", ["aiohttp", "httpx", "wire"])
async def test_neither_client_trusts_proxy_variables(
    backend: str, client: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """REVIEW D17: a proxy variable in the process's environment must not reroute calls to
    the systems of record (nor `.netrc` add credentials): both clients ignore the environment."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        proxy = f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens there
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    t = Transport(SourceSettings(name="core", base_url=f"{backend}/sys", retries=0, client=client))
    assert t.http.client == client
    assert await t.get_json("/ok") == {"ok": True, "q": ""}
    await t.aclose()
