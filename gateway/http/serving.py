"""How `switchboard serve` runs the gateway: two uvicorn servers on one loop, public and internal,
with the connection-level limits uvicorn lacks or leaves off.

- A request's headers must arrive within `[server] header_timeout_seconds` of the connection
  opening (or of the request's first byte on a kept-alive connection); otherwise the server
  answers 408 and closes the connection. uvicorn has no such timer: a client sending half a
  request line held its connection, and the connection slot, forever.
- At most `[server] max_connections` open connections per process (uvicorn's
  `limit_concurrency`): beyond it, a request is answered 503 at once, nothing queues.
- The request body is bounded by the request's deadline in the app (gateway/app.py), not here.

- A response of known length (every GraphQL answer) leaves in one write: uvicorn writes the
  status line and headers at the response start and the body in a second write, two segments
  and two wake-ups of the client; here the first is held until the body and both go together
  (`_OneWriteCycle`). A streamed response (SSE, chunked) has its headers sent at once, as before.

httptools is used explicitly (what `uvicorn[standard]` brings); the header timer is a small
subclass of its protocol, overriding only connection and parser callbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Iterator, Sequence
from typing import Any, cast

import uvicorn
from starlette.types import ASGIApp
from uvicorn._types import ASGISendEvent
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from gateway.config import ServerSettings
from gateway.http.drain import Drain

__all__ = [
    "ADMIN_SHUTDOWN_SECONDS",
    "LIFESPAN_RESERVE",
    "HeaderTimeoutProtocol",
    "admin_config",
    "public_config",
    "serve",
]

_REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on each request's headers."""

    header_timeout: float = 10.0
    """Set per server by `_protocol` (uvicorn builds the protocol itself, with fixed args)."""
    _header_timer: asyncio.TimerHandle | None = None
    _writes: _HeldWrites | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._writes = _HeldWrites(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # bytes between requests that begin none (a stray CRLF) stopped uvicorn's keep-alive
        # timer: the next request's headers are now awaited
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            self._arm_header_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        super().on_headers_complete()
        cycle = self.cycle
        # uvicorn has just made this request's cycle (its task has not run yet): it becomes
        # one whose response of known length leaves in one write (not an upgrade: no cycle)
        if type(cycle) is RequestResponseCycle and self._writes is not None:
            cycle.__class__ = _OneWriteCycle
            cycle.transport = cast(asyncio.Transport, self._writes)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        # the connection is the WebSocket protocol's from here: no request headers to await
        self._disarm_header_timer()
        super().handle_websocket_upgrade()

    def _arm_header_timer(self) -> None:
        if (
            self._header_timer is None
            and not self.transport.is_closing()
            and self.transport.get_protocol() is self  # not handed over to a WebSocket
        ):
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.write(_REQUEST_TIMEOUT)
            self.transport.close()


class _HeldWrites:
    """The connection's transport as its response cycles see it: a write held (`hold`) goes
    out with the next one, in one system call (`writelines`); anything else is the
    transport's own. One per connection: it refers to nothing but the transport."""

    __slots__ = ("_transport", "capturing", "held")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.capturing = False
        self.held: bytes | None = None

    def write(self, data: bytes) -> None:
        if self.capturing:
            self.held = data
            return
        held = self.held
        if held is None:
            self._transport.write(data)
        else:
            self.held = None
            self._transport.writelines((held, data))

    def flush(self) -> None:
        held, self.held = self.held, None
        if held is not None:
            self._transport.write(held)

    def close(self) -> None:
        self.flush()  # a response cut short still says what it started with, as before
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _OneWriteCycle(RequestResponseCycle):
    """uvicorn's response cycle (httptools), but the status line and headers of a response
    whose body has a known, non-zero length wait for that body and leave with it."""

    async def send(self, message: ASGISendEvent) -> None:
        writes = self.transport
        if self.response_started or not isinstance(writes, _HeldWrites):
            await super().send(message)
            return
        writes.capturing = True  # uvicorn writes the status line and headers once parsed
        try:
            await super().send(message)
        finally:
            writes.capturing = False
        if (
            self.chunked_encoding is not False  # streamed: the client sees the start at once
            or self.expected_content_length == 0  # no body (204, 304, HEAD, empty) to wait for
            or self.scope["method"] == "HEAD"
        ):
            writes.flush()


def _protocol(header_timeout: float) -> type[HeaderTimeoutProtocol]:
    return type(
        "HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout": header_timeout}
    )


def public_config(app: ASGIApp, server: ServerSettings, **overrides: Any) -> uvicorn.Config:
    """The public server's uvicorn settings, from `[server]`."""
    settings: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "http": _protocol(server.header_timeout_seconds),
        "limit_concurrency": server.max_connections,
        # subscriptions (`screenPops`) on /graphql; a frame no larger than a request's body
        "ws": "websockets-sansio",
        "ws_max_size": server.max_body_bytes,
        "log_level": "info",
        "proxy_headers": False,
        "access_log": server.access_log,
        "lifespan": "on",
        # each request's task starts in an empty context: uvicorn starts a pipelined request
        # from inside the previous one's `send`, whose context (its request scope and
        # deadline, its log context) the new task otherwise inherits (issue #18)
        "reset_contextvars": True,
        **overrides,
    }
    return uvicorn.Config(app, **settings)


def admin_config(app: ASGIApp, server: ServerSettings, **overrides: Any) -> uvicorn.Config:
    """The internal server (`/ready`, `/metrics`): the same limits, a few connections."""
    settings: dict[str, Any] = {
        "host": server.admin_host,
        "port": server.admin_port,
        "http": _protocol(server.header_timeout_seconds),
        "limit_concurrency": 32,
        "ws": "none",
        "log_level": "warning",
        "proxy_headers": False,
        "access_log": False,
        "lifespan": "off",  # the public app owns the sources and the key set
        "reset_contextvars": True,
        **overrides,
    }
    return uvicorn.Config(app, **settings)


class _Server(uvicorn.Server):
    """Two servers share one loop, so neither installs signal handlers: `serve` does, and
    stops both."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


LIFESPAN_RESERVE = 0.25
"""The share of `drain_seconds` kept for the app's own shutdown (the audit lines still queued,
the broker, the sources' connections) after the connections' share has run out."""


ADMIN_SHUTDOWN_SECONDS = 1.0
"""What the internal server is given to stop once the public one has drained."""


def serve(
    public: uvicorn.Config,
    admin: uvicorn.Config,
    *,
    drain: Drain,
    drain_seconds: float,
    sockets: Sequence[socket.socket] = (),
) -> int:
    """Run both servers until SIGINT/SIGTERM, then drain within `drain_seconds`; 1 if the
    internal one cannot start. `sockets`: the public and the internal listening sockets, bound
    by a parent that runs several such processes (gateway/http/workers.py)."""
    # uvicorn waits for open connections without limit unless told: a kept-alive idle client,
    # an SSE stream nobody reads or a stuck request would hold the process forever
    public.timeout_graceful_shutdown = drain_seconds * (1 - LIFESPAN_RESERVE)  # type: ignore[assignment]
    admin.timeout_graceful_shutdown = ADMIN_SHUTDOWN_SECONDS  # type: ignore[assignment]
    with asyncio.Runner(loop_factory=public.get_loop_factory()) as runner:
        return runner.run(
            _serve_both(_Server(public), _Server(admin), drain, drain_seconds, list(sockets))
        )


async def _serve_both(
    public: uvicorn.Server,
    admin: uvicorn.Server,
    drain: Drain,
    drain_seconds: float,
    sockets: list[socket.socket],
) -> int:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    public_sockets, admin_sockets = (sockets[:1], sockets[1:]) if sockets else (None, None)
    admin_task = asyncio.create_task(admin.serve(admin_sockets))
    deadline: float | None = None  # of the drain, once it has begun
    try:
        while not admin.started:
            if admin_task.done() or stopping.is_set():
                return 1
            await asyncio.sleep(0.02)
        public_task = asyncio.create_task(public.serve(public_sockets))
        stop = asyncio.create_task(stopping.wait())
        await asyncio.wait({public_task, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not public_task.done():
            _begin_drain(public, drain)
            deadline = loop.time() + drain_seconds
            try:
                # what is left of the drain after this is the internal server's, to stop
                async with asyncio.timeout(drain_seconds * 0.95):
                    await asyncio.shield(public_task)
            except TimeoutError:
                # the app's own shutdown overran its share: stop waiting for it
                public.force_exit = True
                public_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await public_task
        return 0
    finally:
        # the internal port answered 503 throughout the drain; it stops last, briefly (a probe
        # or a scrape in flight), whatever it is doing
        admin.should_exit = True
        if not admin_task.done():
            left = ADMIN_SHUTDOWN_SECONDS if deadline is None else deadline - loop.time()
            done, _ = await asyncio.wait({admin_task}, timeout=max(left, 0.1))
            if not done:
                admin.force_exit = True
                admin_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await admin_task


def _begin_drain(public: uvicorn.Server, drain: Drain) -> None:
    """In this order: no new connections (the listening sockets close now, not at uvicorn's
    next tick), /ready 503 and the streams told (`drain`), then uvicorn's shutdown: idle
    connections closed, WebSockets closed with 1012, requests in flight finished (each
    answered with `connection: close`) within `timeout_graceful_shutdown`."""
    for server in getattr(public, "servers", []):
        server.close()
    drain.begin()
    public.should_exit = True
