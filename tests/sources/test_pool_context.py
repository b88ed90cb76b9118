"""A pooled back-end connection keeps no request's context (issue #18).

A transport runs its protocol's callbacks in the context it was created in, and a pool
schedules its keep-alive timer from wherever a connection is released (both clients: wire's
sweeper, aiohttp's connector): without care, the request that opened a connection (its scope,
its deadline, its log context) is kept alive by that connection, and every later request's
answers are parsed in the first request's context. Over real sockets on 127.0.0.1, on uvloop
as served (uvicorn's default loop when installed)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import weakref
from collections.abc import Iterator

import pytest
import uvloop
from aiohttp.client_proto import ResponseHandler
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sources import SourceSettings, Transport, current_scope, request_scope
from sources.sandbox.server import background_server


async def ok(request: Request) -> Response:
    return Response(b'{"ok": true}', media_type="application/json")


@pytest.fixture(scope="module")
def backend() -> Iterator[str]:
    with background_server(Starlette(routes=[Route("/sys/ok", ok)]), lifespan="off") as url:
        yield url


class _Marker:
    """Something a request's context holds: alive as long as anything keeps that context."""


_REQUEST: contextvars.ContextVar[_Marker | None] = contextvars.ContextVar("test_request")


@pytest.mark.parametrize("client", ["wire", "aiohttp"])
def test_a_finished_request_is_not_kept_by_the_connection_it_opened(
    backend: str, client: str
) -> None:
    async def scenario() -> bool:
        t = Transport(
            SourceSettings(name="core", base_url=f"{backend}/sys", retries=0, client=client)
        )
        marker = _Marker()

        async def first(marker: _Marker) -> None:  # opens the pooled connection
            _REQUEST.set(marker)
            with request_scope(5.0):
                assert await t.get_json("/ok") == {"ok": True}

        async def second() -> None:  # reuses it, in a context of its own
            with request_scope(5.0):
                assert await t.get_json("/ok") == {"ok": True}

        await asyncio.create_task(first(marker))
        gone = weakref.ref(marker)
        del marker
        await asyncio.create_task(second())
        gc.collect()
        # the connection is still pooled (kept alive for the next call), and with it whatever
        # context its transport and the pool's timer run in
        alive = gone() is not None
        await t.aclose()
        return alive

    assert not uvloop.run(scenario()), "a pooled connection kept the first request's context"


def test_answers_on_a_pooled_connection_are_read_in_no_request_context(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The protocol's callbacks (the answer's bytes arriving) see no request's scope but the
    calling request's own (aiohttp feeds bytes that came early from the caller's task): never
    the scope (and deadline) of the request that happened to open the connection."""
    stale: list[object] = []
    calling: list[object] = [None]
    received = ResponseHandler.data_received

    def spying(self: ResponseHandler, data: bytes) -> None:
        if current_scope() not in (None, calling[0]):
            stale.append(current_scope())
        received(self, data)

    monkeypatch.setattr(ResponseHandler, "data_received", spying)

    async def scenario() -> None:
        t = Transport(SourceSettings(name="core", base_url=f"{backend}/sys", retries=0))
        for _ in range(3):
            with request_scope(5.0) as scope:
                calling[0] = scope
                assert await t.get_json("/ok") == {"ok": True}
        await t.aclose()

    uvloop.run(scenario())
    assert stale == []
