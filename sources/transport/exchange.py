"""The one HTTP seam: every use of an HTTP client in Switchboard's sources lives in this module
(and in `wire.py`, the lean client behind it).

An `Exchange` is one system's way of getting a body: `get(path, params) -> bytes` and
`aclose()` (httpx's `handle_request` contract, narrowed to what a read needs). Production picks
one by the system's `client` setting (`[sources.<name>] client`, validated by gateway/config):
**wire** by default (`wire.py`: a lean HTTP/1.1 client on asyncio Protocols and httptools' C
parser, the same `Rules`; ~0.05 ms CPU per back-end call against ~0.13-0.3 ms for aiohttp and
~1-3 ms for httpx with sniffio on a 2-core machine: see docs/performance.md), **aiohttp** or
**httpx** (the benchmark's comparisons, and fallbacks). Tests pass an exchange factory
instead: `MockExchange.serving(handler)` (`mock.py`), whose handler answers a `Request` with a
`Reply` (or raises), or `HttpxExchange.over(transport)` for an `httpx.MockTransport`. The double
*is* an exchange, as httpx's `MockTransport` is a transport, so nothing above this module knows
it is being tested.

What every exchange shares (`Rules`), and so what the tests over doubles check: typed errors
from `sources._errors` that name the system and never a URL (`raise ... from exc`), the body
size cap (declared or while streaming); the real clients add the connection limits from
`SourceSettings` and no trust in the environment (`trust_env=False`: proxy variables and
`.netrc` never reroute a call or add credentials). `HttpClient` puts one budget around the
whole exchange (slow trickles included) and decodes the JSON.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

import aiohttp
import httpx
import orjson
from yarl import URL

from .._errors import SourceBadResponse, SourceRateLimited, SourceTimeout, SourceUnavailable
from .._settings import SourceSettings
from .expiry import Expiry
from .pool import PoolConnector

__all__ = [
    "AiohttpExchange",
    "Decode",
    "Exchange",
    "ExchangeFactory",
    "Headers",
    "HttpClient",
    "HttpxExchange",
    "Params",
    "open_exchange",
    "probe",
]

Params = Sequence[tuple[str, str]]
Headers = Mapping[str, str]
"""Extra request headers for one call: the trace context (`traceparent`), nothing else."""

_NO_HEADERS: Headers = {}

_KEEPALIVE_SECONDS = 4.0
"""Idle connections are dropped before uvicorn's (and most servers') 5 s keep-alive expires,
so a call never races a server closing its idle connection."""


class Exchange(Protocol):
    """One system's way of getting a body. `get` answers the body of a 200, or raises a typed
    `SourceError` (never a client's own exception); `aclose` releases the pool."""

    @property
    def kind(self) -> str:
        """Which client answers: "aiohttp", "httpx" or "mock"."""
        ...

    async def get(self, path: str, params: Params, headers: Headers = _NO_HEADERS) -> bytes: ...

    async def patch(self, path: str, body: bytes) -> tuple[int, bytes]:
        """A write (upsert by external id): the status and body of any answer below 500 but
        429, which the caller interprets; 5xx, 429 and transport failures raise as for `get`."""
        ...

    async def aclose(self) -> None: ...


ExchangeFactory = Callable[[SourceSettings], Exchange]
"""How a system's exchange is made from its settings: `open_exchange` in production."""

Decode = Callable[[bytes], Any]
"""A body straight to what the caller wants, or None: then it gets the parsed JSON instead."""


def open_exchange(settings: SourceSettings) -> Exchange:
    """The production exchange the system's `client` setting names (wire by default)."""
    if settings.client == "wire":
        from .wire import WireExchange  # here: wire.py builds on this module's Rules

        return WireExchange(settings)
    if settings.client == "httpx":
        return HttpxExchange(settings)
    return AiohttpExchange(settings)


class HttpClient:
    """A pooled client for one system: one GET, decoded JSON or a typed `SourceError`."""

    def __init__(self, settings: SourceSettings, exchange: ExchangeFactory = open_exchange) -> None:
        self.settings = settings
        self.name = settings.name
        self._exchange = exchange(settings)

    @property
    def exchange(self) -> Exchange:
        """The exchange itself, for a write (`Transport.patch_json` puts the budget around it)."""
        return self._exchange

    @property
    def client(self) -> str:
        """Which client serves this system: "aiohttp", "httpx" or (tests) "mock"."""
        return self._exchange.kind

    async def aclose(self) -> None:
        await self._exchange.aclose()

    async def get_json(
        self,
        path: str,
        params: Params,
        budget: float,
        headers: Headers = _NO_HEADERS,
        decode: Decode | None = None,
    ) -> Any:
        """GET `path` (a fixed path, never built from user input); the whole exchange, slow
        trickles included, is over within `budget` seconds. The body is what `decode` makes of
        it (the records, decoded in C: sources/_decode.py `Shape.fast`) or, when it has no
        `decode` or that answers None, the parsed JSON."""
        loop = asyncio.get_running_loop()
        expiry = Expiry(loop)  # asyncio.timeout's rules, at a third of its cost (expiry.py)
        timer = loop.call_at(loop.time() + budget, expiry.expire)
        try:
            body = await self._exchange.get(path, params, headers)
        except asyncio.CancelledError as exc:
            if expiry.ended():  # the budget's cancellation, nobody else's: a timeout
                raise SourceTimeout(self.name, f"{self.name} did not answer in time") from exc
            raise
        finally:
            timer.cancel()
            expiry.ended()  # an expiry the answer beat is taken back; forgets the task either way
        if decode is not None and (decoded := decode(body)) is not None:
            return decoded
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise SourceBadResponse(self.name, f"{self.name} answered a malformed body") from exc


class Rules:
    """The rules every exchange shares, for one system: what a status means, the body cap, and
    the typed errors (naming the system, never a URL)."""

    __slots__ = ("cap", "name")

    def __init__(self, settings: SourceSettings) -> None:
        self.name = settings.name
        self.cap = settings.max_body_bytes

    def check_head(self, status: int, header: Callable[[str], str | None]) -> None:
        """Refuse a status other than 200 (typed by what it means) or a declared oversize."""
        name = self.name
        if status == 429:
            retry_after = _retry_after(header("retry-after"))
            raise SourceRateLimited(name, f"{name} is rate limiting", retry_after)
        if status >= 500:
            raise SourceUnavailable(name, f"{name} is unavailable ({status})", status)
        if status != 200:
            raise SourceBadResponse(name, f"{name} refused the request ({status})")
        declared = header("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.cap:
            raise self.oversized()

    def check_write_head(self, status: int, header: Callable[[str], str | None]) -> None:
        """A write's answer: 2xx, 3xx and 4xx are the system's verdict (the caller reads them);
        429 and 5xx are typed as for a read; an oversized declared body is refused."""
        if status == 429 or status >= 500:
            self.check_head(status, header)
        declared = header("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.cap:
            raise self.oversized()

    async def read_capped(self, next_chunk: Callable[[], Awaitable[bytes]]) -> bytes:
        """The body, refused as soon as it grows past the cap (no content-length needed);
        `next_chunk()` answers b"" at the end."""
        cap = self.cap
        parts: list[bytes] = []
        size = 0
        while chunk := await next_chunk():
            size += len(chunk)
            if size > cap:
                raise self.oversized()
            parts.append(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def unavailable(self) -> SourceUnavailable:
        return SourceUnavailable(self.name, f"{self.name} is unreachable")

    def timeout(self) -> SourceTimeout:
        return SourceTimeout(self.name, f"{self.name} did not answer in time")

    def oversized(self) -> SourceBadResponse:
        return SourceBadResponse(self.name, f"{self.name} answered an oversized body")


class AiohttpExchange:
    """aiohttp over a pool of at most `max_connections`, opened on first use (a session belongs
    to the event loop that creates it) and closed with the client."""

    kind = "aiohttp"

    def __init__(self, settings: SourceSettings) -> None:
        self.settings = settings
        self.rules = Rules(settings)
        self.base = settings.base_url.rstrip("/")
        self._urls: dict[str, URL] = {}
        """Parsed once per path: the paths are fixed, never built from user input."""
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        settings = self.settings
        connector = PoolConnector(  # no request's context kept by the pool: pool.py
            limit=settings.max_connections,
            limit_per_host=0,
            keepalive_timeout=_KEEPALIVE_SECONDS,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            # the call's budget is enforced around the whole exchange (HttpClient.get_json)
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=settings.connect_timeout),
            headers={"accept": "application/json"},
            cookie_jar=aiohttp.DummyCookieJar(),  # never carry one customer's cookies to another
            raise_for_status=False,
            trust_env=False,
        )
        return self._session

    async def get(self, path: str, params: Params, headers: Headers = _NO_HEADERS) -> bytes:
        rules = self.rules
        session = self._session or self._open()
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = URL(self.base + path)
        try:
            async with session.get(
                url, params=params, headers=headers or None, allow_redirects=False
            ) as response:
                headers = response.headers
                rules.check_head(response.status, headers.get)
                if "content-length" in headers and "content-encoding" not in headers:
                    # bounded by the declared length, which check_head held to the cap
                    return await response.read()
                return await rules.read_capped(response.content.readany)
        except aiohttp.ServerTimeoutError as exc:  # connect or socket read timeouts
            raise rules.timeout() from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise rules.unavailable() from exc

    async def patch(self, path: str, body: bytes) -> tuple[int, bytes]:
        rules = self.rules
        session = self._session or self._open()
        headers = {"content-type": "application/json"}
        try:
            async with session.patch(
                URL(self.base + path), data=body, headers=headers, allow_redirects=False
            ) as response:
                rules.check_write_head(response.status, response.headers.get)
                return response.status, await rules.read_capped(response.content.readany)
        except aiohttp.ServerTimeoutError as exc:
            raise rules.timeout() from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise rules.unavailable() from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class HttpxExchange:
    """httpx over real sockets (`client = "httpx"`), or over any httpx transport: `over()`
    serves a test's `httpx.MockTransport` through the same client and rules."""

    kind = "httpx"

    def __init__(
        self, settings: SourceSettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.rules = Rules(settings)
        self._client = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/"),
            limits=httpx.Limits(
                max_connections=settings.max_connections,
                max_keepalive_connections=settings.max_keepalive,
                keepalive_expiry=_KEEPALIVE_SECONDS,
            ),
            # the call's budget is enforced around the whole exchange (HttpClient.get_json)
            timeout=httpx.Timeout(None, connect=settings.connect_timeout),
            transport=transport,
            headers={"accept": "application/json"},
            follow_redirects=False,
            trust_env=False,  # as aiohttp: no proxy variables, no .netrc credentials
        )

    @classmethod
    def over(cls, transport: httpx.AsyncBaseTransport) -> ExchangeFactory:
        """A factory of httpx exchanges over `transport` (one shared by every system)."""
        return lambda settings: cls(settings, transport)

    async def get(self, path: str, params: Params, headers: Headers = _NO_HEADERS) -> bytes:
        rules = self.rules
        try:
            request = self._client.build_request(
                "GET", path, params=list(params), headers=headers or None
            )
            response = await self._client.send(request, stream=True)
            try:
                rules.check_head(response.status_code, response.headers.get)
                chunks = response.aiter_bytes()
                return await rules.read_capped(lambda: anext(chunks, b""))
            finally:
                await response.aclose()
        except httpx.TimeoutException as exc:
            raise rules.timeout() from exc
        except httpx.TransportError as exc:
            raise rules.unavailable() from exc

    async def patch(self, path: str, body: bytes) -> tuple[int, bytes]:
        rules = self.rules
        headers = {"content-type": "application/json"}
        try:
            request = self._client.build_request("PATCH", path, content=body, headers=headers)
            response = await self._client.send(request, stream=True)
            try:
                rules.check_write_head(response.status_code, response.headers.get)
                chunks = response.aiter_bytes()
                return response.status_code, await rules.read_capped(lambda: anext(chunks, b""))
            finally:
                await response.aclose()
        except httpx.TimeoutException as exc:
            raise rules.timeout() from exc
        except httpx.TransportError as exc:
            raise rules.unavailable() from exc

    async def aclose(self) -> None:
        await self._client.aclose()


async def probe(base_url: str, within: float = 1.0, path: str = "openapi.json") -> bool:
    """Does the system answer its API? One GET of `path` (relative to `base_url`: a cheap
    document such as the system's OpenAPI description or health resource), 2xx within
    `within` seconds. A TCP connect alone says a port is open, not that the API works.
    Outside the circuit breaker and the request's scope: readiness neither trips nor feeds
    them, and its own short-lived client shares no pool with the calls."""
    url = base_url.rstrip("/") + "/" + path.lstrip("/")
    try:
        async with (
            asyncio.timeout(within),
            httpx.AsyncClient(trust_env=False, follow_redirects=False) as client,
        ):
            response = await client.get(url, headers={"accept": "application/json"})
    except (httpx.HTTPError, OSError, TimeoutError):
        return False
    return 200 <= response.status_code < 300


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header given as delta-seconds (HTTP-dates are ignored)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
