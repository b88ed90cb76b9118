"""A lean HTTP/1.1 client exchange (`client = "wire"`): asyncio Protocols and httptools' C
response parser (llhttp, the parser of Node.js and of uvicorn's server side), behind the seam.

Why: aiohttp's own per-request Python (request and response objects, header multidicts, the
stream reader, its tracing hooks) costs 0.20-0.35 ms of CPU per back-end call; a screen-pop
makes ten calls, so that was the largest single share of the cheap workloads. This client does
only what a call to a system of record needs: one request written in one `write`, the answer
parsed in C as it arrives, the body joined once (docs/performance.md, "The HTTP client").

What it keeps of the aiohttp exchange (and tests/sources/test_wire*.py checks over sockets):
- `Rules` for every verdict: status mapping, Retry-After, the body cap (declared: refused
  before reading; streamed: as soon as it grows past), typed errors that never name a URL;
- a pool of at most `max_connections` per system: a request holds a slot of a FIFO semaphore
  (a cancelled waiter takes none) and an idle connection or a new one; a connection goes back
  to the pool only after its answer was read completely and the server keeps it alive, at most
  `max_keepalive` idle ones, each dropped after `_KEEPALIVE_SECONDS`;
- a request cancelled (the call's budget) or failing mid-exchange aborts its connection;
- a GET on a reused connection that the server had closed (EOF or reset before any byte of the
  answer) is sent once more on a fresh connection, as aiohttp retries idempotent methods,
  unless the source's `retries` is 0 (then no request is ever sent twice); a PATCH never is
  (aiohttp does not retry it either: it may have been applied);
- the query string exactly as aiohttp builds it (`yarl.URL.extend_query`, rebuilt without URL
  objects in `query.py`), a Host header, no proxies and no `.netrc` (nothing read from the
  environment); https with certificate and host name verification and SNI
  (`ssl.create_default_context`, the system's trust store, as aiohttp).
"""

from __future__ import annotations

import asyncio
import contextvars
import ssl
from collections import deque
from collections.abc import Callable
from typing import cast

from httptools import HttpParserError, HttpResponseParser
from yarl import URL

from .._errors import SourceBadResponse, SourceError
from .._settings import SourceSettings
from .exchange import _KEEPALIVE_SECONDS, _NO_HEADERS, Headers, Params, Rules
from .query import Target
from .slots import Slots

__all__ = ["WireExchange"]

Check = Callable[[int, Callable[[str], str | None]], None]
"""`Rules.check_head` (a read) or `Rules.check_write_head` (a write)."""


class _Stale(Exception):
    """A reused connection the server had closed before any byte of the answer."""


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: one request at a time, its answer parsed as it arrives.
    `send` answers (status, body) once the whole answer is in, or raises a `SourceError`."""

    __slots__ = (
        "_check",
        "_chunks",
        "_failure",
        "_headers",
        "_parser",
        "_received",
        "_size",
        "_status",
        "_until_close",
        "_waiter",
        "idle_since",
        "lost",
        "reusable",
        "rules",
        "transport",
    )

    def __init__(self, rules: Rules, lost: asyncio.Future[None]) -> None:
        self.rules = rules
        self.lost = lost
        self.transport: asyncio.Transport | None = None
        self.reusable = False
        self.idle_since = 0.0
        self._parser: HttpResponseParser | None = HttpResponseParser(self)
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._check: Check | None = None
        self._headers: dict[str, str] = {}
        self._chunks: list[bytes] = []
        self._size = 0
        self._status = 0
        self._received = False
        self._until_close = False
        self._failure: SourceError | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport, though uvloop's (the server's loop) is no asyncio.Transport subclass
        self.transport = cast(asyncio.Transport, transport)
        self.reusable = True

    def data_received(self, data: bytes) -> None:
        self._received = True
        if self._waiter is None or self._parser is None:  # nothing asked: the server is confused
            self.abort()
            return
        try:
            self._parser.feed_data(data)
        except HttpParserError:  # malformed, or a callback refused (its verdict in _failure)
            self._fail(self._failure or self.rules.unavailable())
            self._failure = None  # its traceback holds this frame (f_back): no cycle kept

    def eof_received(self) -> bool:
        return False  # close our side too: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            if self._until_close and self._status:  # the body ran until the server closed
                waiter.set_result((self._status, self._body()))
            elif not self._received:
                waiter.set_exception(_Stale())
            else:
                waiter.set_exception(self.rules.unavailable())
        self._waiter = None
        self._parser = None  # the parser holds our bound methods: no cycle left behind
        self.transport = None
        if not self.lost.done():
            self.lost.set_result(None)

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        assert self._parser is not None and self._check is not None
        status = self._status = self._parser.get_status_code()
        headers = self._headers
        try:
            if status < 200:  # an interim answer: never asked for (no Expect sent)
                raise self.rules.unavailable()
            self._check(status, headers.get)
            encoding = headers.get("content-encoding", "identity").lower()
            if encoding != "identity":  # never asked for: we send no Accept-Encoding
                name = self.rules.name
                raise SourceBadResponse(name, f"{name} answered an unrequested encoding")
        except SourceError as exc:
            self._failure = exc
            raise
        self._until_close = (
            "content-length" not in headers
            and "chunked" not in headers.get("transfer-encoding", "").lower()
            and status >= 200
            and status not in (204, 304)
        )

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self.rules.cap:
            self._failure = self.rules.oversized()
            raise self._failure
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done() or self._status < 200:
            self.reusable = False  # a second answer, or an interim one: never expected
            return
        assert self._parser is not None
        if self._until_close or not self._parser.should_keep_alive():
            self.reusable = False
        waiter.set_result((self._status, self._body()))

    # the exchange
    def send(self, request: bytes, check: Check) -> asyncio.Future[tuple[int, bytes]]:
        """Write `request`: the future answers (status, body) once the whole answer is in, or
        fails with a `SourceError`. Not a coroutine (one frame less per call); the caller
        awaits the future, then calls `done()` on every exit path."""
        transport = self.transport
        if transport is None or transport.is_closing():
            raise _Stale()
        self._check = check
        self._size = self._status = 0
        self._received = self._until_close = False
        self._failure = None
        waiter: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        transport.write(request)
        return waiter

    def done(self) -> None:
        """After the answer (or the failure): nothing of this exchange kept."""
        self._waiter = None
        self._check = None
        self._headers.clear()
        self._chunks.clear()

    def _body(self) -> bytes:
        chunks = self._chunks
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _fail(self, exc: SourceError) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.abort()

    def abort(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.abort()


class WireExchange:
    """The lean client for one system: a pool of `_Connection`s to its base URL."""

    kind = "wire"

    def __init__(self, settings: SourceSettings, tls: ssl.SSLContext | None = None) -> None:
        """`tls`: the context for an https base URL (tests pass one trusting their own CA);
        by default the system's trust store with host name verification."""
        self.settings = settings
        self.rules = Rules(settings)
        base = URL(settings.base_url.rstrip("/"))
        self._base = str(base)
        self._host = base.raw_host or ""
        self._port = base.port or (443 if base.scheme == "https" else 80)
        self._tls = (tls or ssl.create_default_context()) if base.scheme == "https" else None
        fixed = f"Host: {base.host_port_subcomponent}\r\nAccept: application/json\r\n"
        self._fixed = fixed + "User-Agent: switchboard\r\n"
        self._targets: dict[str, Target] = {}
        """Parsed once per path: the paths are fixed, never built from user input."""
        self._slots = Slots(settings.max_connections)
        self._idle: deque[_Connection] = deque()
        self._open: set[_Connection] = set()
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False
        self._read: Check = self.rules.check_head
        self._write: Check = self.rules.check_write_head

    async def get(self, path: str, params: Params, headers: Headers = _NO_HEADERS) -> bytes:
        targets = self._targets.get(path)
        if targets is None:
            targets = self._targets[path] = Target(URL(self._base + path))
        target = targets.with_params(params)
        extra = ""
        for name, value in headers.items():
            if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
                raise ValueError("a header may not contain a line break")
            extra += f"{name}: {value}\r\n"
        request = f"GET {target} HTTP/1.1\r\n{self._fixed}{extra}\r\n".encode("latin-1")
        # `retries = 0`: never a request twice, not even this resend (the caller asked for none)
        retry = self.settings.retries > 0
        return (await self._exchange(request, self._read, retry=retry))[1]

    async def patch(self, path: str, body: bytes) -> tuple[int, bytes]:
        target = URL(self._base + path).raw_path_qs
        head = (
            f"PATCH {target} HTTP/1.1\r\n{self._fixed}Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return await self._exchange(head.encode("latin-1") + body, self._write, retry=False)

    async def _exchange(self, request: bytes, check: Check, retry: bool) -> tuple[int, bytes]:
        slots = self._slots
        if not slots.take_now():  # nearly always free: no coroutine, no future
            await slots.take()
        try:
            conn = self._reuse()
            if conn is None:
                conn = await self._connect()
            elif retry:
                try:
                    return await self._send(conn, request, check)
                except _Stale:  # the server closed it while idle: once more, on a fresh one
                    conn = await self._connect()
            try:
                return await self._send(conn, request, check)
            except _Stale as exc:
                raise self.rules.unavailable() from exc
        finally:
            slots.give()

    async def _send(self, conn: _Connection, request: bytes, check: Check) -> tuple[int, bytes]:
        try:
            answer = await conn.send(request, check)
        except BaseException:  # failed, cancelled (the budget) or unexpected: never reused
            conn.abort()
            raise
        finally:
            conn.done()
        if conn.reusable and not self._closed and len(self._idle) < self.settings.max_keepalive:
            conn.idle_since = asyncio.get_running_loop().time()
            self._idle.append(conn)
            if self._sweeper is None:
                self._sweep_later()
        else:
            conn.abort()
        return answer

    def _reuse(self) -> _Connection | None:
        """The most recently used idle connection still open and young enough, if any."""
        idle = self._idle
        if not idle:
            return None
        oldest = asyncio.get_running_loop().time() - _KEEPALIVE_SECONDS
        while idle:
            conn = idle.pop()
            if conn.reusable and conn.idle_since > oldest:
                return conn
            conn.abort()
        return None

    async def _connect(self) -> _Connection:
        if self._closed:
            raise self.rules.unavailable()
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[None] = loop.create_future()
        rules = self.rules
        tls = self._tls
        # opened in a context of its own: a transport runs its protocol's callbacks in the
        # context it was created in, so a connection opened in the caller's would keep that
        # request (its scope and deadline, its log context) alive for as long as it is pooled,
        # and show it to every later answer read on it (tests/sources/test_pool_context.py)
        opening = loop.create_task(
            loop.create_connection(
                lambda: _Connection(rules, lost),
                self._host,
                self._port,
                ssl=tls,
                server_hostname=self._host if tls is not None else None,
            ),
            context=contextvars.Context(),
        )
        try:
            async with asyncio.timeout(self.settings.connect_timeout):
                _, conn = await opening
        except TimeoutError as exc:  # the connect timeout (the budget's own cancels instead)
            raise rules.timeout() from exc
        except OSError as exc:  # refused, unresolvable, TLS verification failed
            raise rules.unavailable() from exc
        except asyncio.CancelledError:
            # the caller went away (its budget) just as the connection opened: not left open
            if opening.done() and not opening.cancelled() and opening.exception() is None:
                opening.result()[0].abort()
            raise
        self._open.add(conn)
        lost.add_done_callback(lambda _: self._open.discard(conn), context=contextvars.Context())
        return conn

    def _sweep_later(self) -> None:
        # armed from a caller's task, and re-armed from itself: in no request's context
        self._sweeper = asyncio.get_running_loop().call_later(
            _KEEPALIVE_SECONDS, self._sweep, context=contextvars.Context()
        )

    def _sweep(self) -> None:
        """Drop the idle connections past their keep-alive, and look again while any is left."""
        self._sweeper = None
        oldest = asyncio.get_running_loop().time() - _KEEPALIVE_SECONDS
        keep = deque(conn for conn in self._idle if conn.reusable and conn.idle_since > oldest)
        for conn in self._idle:
            if conn not in keep:
                conn.abort()
        self._idle = keep
        if keep:
            self._sweep_later()

    async def aclose(self) -> None:
        """Close every connection, idle or in use, and wait until each is gone."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self._idle.clear()
        conns = list(self._open)
        for conn in conns:
            conn.abort()
        if conns:
            await asyncio.gather(*(conn.lost for conn in conns))
