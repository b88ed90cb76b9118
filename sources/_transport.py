"""The one HTTP seam: every use of the HTTP client in Switchboard lives in this module.

Foreign errors are mapped here into the hierarchy of `sources._errors` (`raise ... from exc`),
so nothing above this module ever sees an httpx type. Swapping the client (see the Performance I
issue) means rewriting this file only.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from ._errors import (
    SourceBadResponse,
    SourceRateLimited,
    SourceTimeout,
    SourceUnavailable,
)

__all__ = ["Params", "SourceSettings", "Transport"]

Params = Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class SourceSettings:
    """How to reach one back-end system."""

    name: str
    base_url: str
    timeout: float = 2.0
    connect_timeout: float = 1.0
    max_connections: int = 64
    max_keepalive: int = 32
    max_batch: int = 200
    max_body_bytes: int = 8 * 1024 * 1024

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"source {self.name!r}: base_url must be an http(s) URL")
        if self.max_batch < 1:
            raise ValueError(f"source {self.name!r}: max_batch must be >= 1")
        if not (self.timeout > 0 and self.connect_timeout > 0):
            raise ValueError(f"source {self.name!r}: timeouts must be > 0")


class Transport:
    """A pooled client for one system: GET a path, get decoded JSON or a typed `SourceError`."""

    def __init__(
        self,
        settings: SourceSettings,
        *,
        mock: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        limits = httpx.Limits(
            max_connections=settings.max_connections,
            max_keepalive_connections=settings.max_keepalive,
        )
        timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout)
        self._client = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/"),
            limits=limits,
            timeout=timeout,
            transport=mock,
            headers={"accept": "application/json"},
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def probe(self, within: float = 1.0) -> bool:
        """Can a TCP connection to the system be opened? Readiness without an API call."""
        url = httpx.URL(self.settings.base_url)
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            async with asyncio.timeout(within):
                _, writer = await asyncio.open_connection(url.host, port)
            writer.close()
            await writer.wait_closed()
        except (OSError, TimeoutError):
            return False
        return True

    async def get_json(self, path: str, params: Params = (), *, budget: float | None = None) -> Any:
        """GET `path` (a fixed path, never built from user input) with query `params`.

        `budget` (seconds) caps this call below the source's own timeouts, e.g. the time left
        before the request's deadline.
        """
        name = self.name
        request_timeout: httpx.Timeout | None = None
        if budget is not None:
            if budget <= 0:
                raise SourceTimeout(name, f"{name} call skipped: no time left")
            request_timeout = httpx.Timeout(min(budget, self.settings.timeout))
        try:
            request = self._client.build_request(
                "GET",
                path,
                params=list(params),
                timeout=request_timeout or self._client.timeout,
            )
            response = await self._client.send(request, stream=True)
            try:
                self._check_status(response)
                body = await self._read_capped(response)
            finally:
                await response.aclose()
        except httpx.TimeoutException as exc:
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
            raise SourceRateLimited(
                name, f"{name} is rate limiting", _retry_after(response.headers.get("retry-after"))
            )
        if status >= 500:
            raise SourceUnavailable(name, f"{name} is unavailable ({status})")
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


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header given as delta-seconds (HTTP-dates are ignored)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
