"""The one HTTP seam: every use of the HTTP client in Switchboard lives in this module.

Foreign errors are mapped here into the hierarchy of `sources._errors` (`raise ... from exc`),
so nothing above this module ever sees an httpx type. Swapping the client (see the Performance I
issue) means rewriting this file only.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import httpx
import orjson

from ._errors import SourceBadResponse, SourceRateLimited, SourceTimeout, SourceUnavailable
from ._settings import SourceSettings

__all__ = ["HttpClient", "Params", "probe"]

Params = Sequence[tuple[str, str]]


class HttpClient:
    """A pooled client for one system: one GET, decoded JSON or a typed `SourceError`."""

    def __init__(self, settings: SourceSettings, mock: httpx.AsyncBaseTransport | None) -> None:
        self.settings = settings
        self.name = settings.name
        self._client = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/"),
            limits=httpx.Limits(
                max_connections=settings.max_connections,
                max_keepalive_connections=settings.max_keepalive,
            ),
            timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
            transport=mock,
            headers={"accept": "application/json"},
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get_json(self, path: str, params: Params, budget: float) -> Any:
        """GET `path` (a fixed path, never built from user input); the whole exchange, slow
        trickles included, is over within `budget` seconds."""
        name = self.name
        try:
            async with asyncio.timeout(budget):
                request = self._client.build_request(
                    "GET", path, params=list(params), timeout=httpx.Timeout(budget)
                )
                response = await self._client.send(request, stream=True)
                try:
                    self._check_status(response)
                    body = await self._read_capped(response)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise SourceTimeout(name, f"{name} did not answer in time") from exc
        except httpx.TransportError as exc:
            raise SourceUnavailable(name, f"{name} is unreachable") from exc
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise SourceBadResponse(name, f"{name} answered a malformed body") from exc

    def _check_status(self, response: httpx.Response) -> None:
        name, status = self.name, response.status_code
        if status == 200:
            return
        if status == 429:
            retry_after = _retry_after(response.headers.get("retry-after"))
            raise SourceRateLimited(name, f"{name} is rate limiting", retry_after)
        if status >= 500:
            raise SourceUnavailable(name, f"{name} is unavailable ({status})", status)
        raise SourceBadResponse(name, f"{name} refused the request ({status})")

    async def _read_capped(self, response: httpx.Response) -> bytes:
        cap = self.settings.max_body_bytes
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            raise SourceBadResponse(self.name, f"{self.name} answered an oversized body")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > cap:
                raise SourceBadResponse(self.name, f"{self.name} answered an oversized body")
            chunks.append(chunk)
        return b"".join(chunks)


async def probe(base_url: str, within: float = 1.0) -> bool:
    """Can a TCP connection to the system be opened? Readiness without an API call."""
    url = httpx.URL(base_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        async with asyncio.timeout(within):
            _, writer = await asyncio.open_connection(url.host, port)
        writer.close()
        await writer.wait_closed()
    except (OSError, TimeoutError):
        return False
    return True


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header given as delta-seconds (HTTP-dates are ignored)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
