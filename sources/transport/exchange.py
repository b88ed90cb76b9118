"""The one HTTP seam: every use of an HTTP client in Switchboard's sources lives in this module.

Real sockets go through **aiohttp** (~0.1 ms CPU per back-end call against ~1 ms for httpx with
sniffio on a 2-core machine: see docs/performance.md). An `httpx.AsyncBaseTransport` passed as
`mock` (tests: `httpx.MockTransport`) is served through an httpx client instead, over the same
shared rules, so every test fake keeps working. `SWITCHBOARD_HTTP_CLIENT=httpx` selects the httpx
path for real sockets too: the benchmark's comparison, and a fallback.

What both paths share, and so what the tests over mocks check: typed errors from
`sources._errors` that name the system and never a URL (`raise ... from exc`), the body size cap
(declared or while streaming), one budget that covers the whole exchange (slow trickles
included), the connection limits from `SourceSettings`, and no trust in the environment
(`trust_env=False`: proxy variables and `.netrc` never reroute a call or add credentials).
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
import httpx
import orjson
from yarl import URL

from .._errors import SourceBadResponse, SourceRateLimited, SourceTimeout, SourceUnavailable
from .._settings import SourceSettings

__all__ = ["CLIENT_ENV", "HttpClient", "Params", "probe"]

Params = Sequence[tuple[str, str]]

CLIENT_ENV = "SWITCHBOARD_HTTP_CLIENT"
"""`aiohttp` (default) or `httpx`: the client used for real sockets."""

_KEEPALIVE_SECONDS = 4.0
"""Idle connections are dropped before uvicorn's (and most servers') 5 s keep-alive expires,
so a call never races a server closing its idle connection."""


class HttpClient:
    """A pooled client for one system: one GET, decoded JSON or a typed `SourceError`."""

    def __init__(self, settings: SourceSettings, mock: httpx.AsyncBaseTransport | None) -> None:
        self.settings = settings
        self.name = settings.name
        self.cap = settings.max_body_bytes
        choice = os.environ.get(CLIENT_ENV, "aiohttp")
        if choice not in ("aiohttp", "httpx"):
            raise ValueError(f"{CLIENT_ENV} must be 'aiohttp' or 'httpx'")
        self._exchange: _Exchange = (
            _HttpxExchange(self, mock)
            if mock is not None or choice == "httpx"
            else _AiohttpExchange(self)
        )

    @property
    def client(self) -> str:
        """Which client serves this system: "aiohttp" or "httpx"."""
        return self._exchange.kind

    async def aclose(self) -> None:
        await self._exchange.aclose()

    async def get_json(self, path: str, params: Params, budget: float) -> Any:
        """GET `path` (a fixed path, never built from user input); the whole exchange, slow
        trickles included, is over within `budget` seconds."""
        try:
            async with asyncio.timeout(budget):
                body = await self._exchange.get(path, params)
        except TimeoutError as exc:
            raise SourceTimeout(self.name, f"{self.name} did not answer in time") from exc
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise SourceBadResponse(self.name, f"{self.name} answered a malformed body") from exc

    # -- the rules both clients share -------------------------------------------------------

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
            raise self._oversized()

    async def read_capped(self, next_chunk: Callable[[], Awaitable[bytes]]) -> bytes:
        """The body, refused as soon as it grows past the cap (no content-length needed);
        `next_chunk()` answers b"" at the end."""
        cap = self.cap
        parts: list[bytes] = []
        size = 0
        while chunk := await next_chunk():
            size += len(chunk)
            if size > cap:
                raise self._oversized()
            parts.append(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def unavailable(self) -> SourceUnavailable:
        return SourceUnavailable(self.name, f"{self.name} is unreachable")

    def timeout(self) -> SourceTimeout:
        return SourceTimeout(self.name, f"{self.name} did not answer in time")

    def _oversized(self) -> SourceBadResponse:
        return SourceBadResponse(self.name, f"{self.name} answered an oversized body")


class _Exchange:
    """One client's way of getting a body: maps that client's errors to typed ones."""

    kind = ""

    async def get(self, path: str, params: Params) -> bytes:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError


class _AiohttpExchange(_Exchange):
    """aiohttp over a pool of at most `max_connections`, opened on first use (a session belongs
    to the event loop that creates it) and closed with the client."""

    kind = "aiohttp"

    def __init__(self, owner: HttpClient) -> None:
        self.owner = owner
        self.base = owner.settings.base_url.rstrip("/")
        self._urls: dict[str, URL] = {}
        """Parsed once per path: the paths are fixed, never built from user input."""
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        settings = self.owner.settings
        connector = aiohttp.TCPConnector(
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

    async def get(self, path: str, params: Params) -> bytes:
        owner = self.owner
        session = self._session or self._open()
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = URL(self.base + path)
        try:
            async with session.get(url, params=params, allow_redirects=False) as response:
                headers = response.headers
                owner.check_head(response.status, headers.get)
                if "content-length" in headers and "content-encoding" not in headers:
                    # bounded by the declared length, which check_head held to the cap
                    return await response.read()
                return await owner.read_capped(response.content.readany)
        except aiohttp.ServerTimeoutError as exc:  # connect or socket read timeouts
            raise owner.timeout() from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise owner.unavailable() from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _HttpxExchange(_Exchange):
    """httpx, over a test's mock transport or (CLIENT_ENV=httpx) real sockets."""

    kind = "httpx"

    def __init__(self, owner: HttpClient, mock: httpx.AsyncBaseTransport | None) -> None:
        self.owner = owner
        settings = owner.settings
        self._client = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/"),
            limits=httpx.Limits(
                max_connections=settings.max_connections,
                max_keepalive_connections=settings.max_keepalive,
                keepalive_expiry=_KEEPALIVE_SECONDS,
            ),
            # the call's budget is enforced around the whole exchange (HttpClient.get_json)
            timeout=httpx.Timeout(None, connect=settings.connect_timeout),
            transport=mock,
            headers={"accept": "application/json"},
            follow_redirects=False,
            trust_env=False,  # as aiohttp: no proxy variables, no .netrc credentials
        )

    async def get(self, path: str, params: Params) -> bytes:
        owner = self.owner
        try:
            request = self._client.build_request("GET", path, params=list(params))
            response = await self._client.send(request, stream=True)
            try:
                owner.check_head(response.status_code, response.headers.get)
                chunks = response.aiter_bytes()
                return await owner.read_capped(lambda: anext(chunks, b""))
            finally:
                await response.aclose()
        except httpx.TimeoutException as exc:
            raise owner.timeout() from exc
        except httpx.TransportError as exc:
            raise owner.unavailable() from exc

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
