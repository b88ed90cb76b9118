"""The test double of an exchange (exchange.py): `MockExchange.serving(handler)` answers each
call with what `handler(Request)` returns, a `Reply`, held to the same `Rules` as the real
clients (status mapping, body cap, typed errors), so nothing above the seam knows it is being
tested. No HTTP here: a handler's `OSError` is an unreachable system, its `TimeoutError` a
timed-out one."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from .._settings import SourceSettings
from .exchange import _NO_HEADERS, ExchangeFactory, Headers, Params, Rules

__all__ = ["MockExchange", "MockHandler", "Reply", "Request"]


@dataclass(frozen=True, slots=True)
class Request:
    """What a `MockExchange` handler is asked: which system, which path, which parameters."""

    system: str
    path: str
    params: tuple[tuple[str, str], ...]
    method: str = "GET"
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    """What the gateway added to the call (the trace context), lower-case names."""

    def param(self, key: str) -> list[str]:
        """Every value of `key`, in order."""
        return [value for name, value in self.params if name == key]


@dataclass(frozen=True, slots=True)
class Reply:
    """What a `MockExchange` handler answers: a status, headers (lower-case names), a body."""

    status: int = 200
    body: bytes = b"{}"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Reply:
        return cls(status, orjson.dumps(value))


MockHandler = Callable[[Request], Reply | Awaitable[Reply]]


class MockExchange:
    """The test double, itself an exchange (as httpx's `MockTransport` is a transport): each
    `get` asks `handler(request)` for a `Reply` and holds it to the same rules as the real
    clients (status mapping, body cap). A handler may be async, and may raise: an `OSError`
    (`ConnectionError`) is an unreachable system, a `TimeoutError` a timed-out one, a
    `SourceError` passes as it is."""

    kind = "mock"

    def __init__(self, handler: MockHandler, settings: SourceSettings) -> None:
        self.handler = handler
        self.rules = Rules(settings)
        self.calls = 0

    @classmethod
    def serving(cls, handler: MockHandler) -> ExchangeFactory:
        """A factory of mock exchanges, one per system, all answered by `handler`."""
        return lambda settings: cls(handler, settings)

    async def get(self, path: str, params: Params, headers: Headers = _NO_HEADERS) -> bytes:
        request = Request(self.rules.name, path, tuple(params), headers=dict(headers))
        reply = await self._ask(request)
        headers = {"content-length": str(len(reply.body)), **reply.headers}
        self.rules.check_head(reply.status, headers.get)
        if len(reply.body) > self.rules.cap:
            raise self.rules.oversized()
        return reply.body

    async def patch(self, path: str, body: bytes) -> tuple[int, bytes]:
        reply = await self._ask(Request(self.rules.name, path, (), "PATCH", body))
        headers = {"content-length": str(len(reply.body)), **reply.headers}
        self.rules.check_write_head(reply.status, headers.get)
        if len(reply.body) > self.rules.cap:
            raise self.rules.oversized()
        return reply.status, reply.body

    async def _ask(self, request: Request) -> Reply:
        rules = self.rules
        self.calls += 1
        try:
            reply = self.handler(request)
            if inspect.isawaitable(reply):
                reply = await reply
        except TimeoutError as exc:
            raise rules.timeout() from exc
        except OSError as exc:
            raise rules.unavailable() from exc
        return reply

    async def aclose(self) -> None:
        return None
