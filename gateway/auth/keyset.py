"""One issuer's signing keys, fetched as JWKS through the sources transport.

Cached, refreshed in the background and on an unknown `kid` (single-flight, rate-limited), so a
rotated key is picked up without a restart, random kids cannot hammer the IdP, and an outage of
the JWKS endpoint does not block tokens signed with keys already held. Never PyJWKClient: it
fetches with blocking urllib under a lock (STACK-NOTES A4).

Authentication waits on a fetch only for a token whose `kid` is unknown, so every fetch has a
budget of its own (`fetch_seconds`): the transport's retries, backoff and `Retry-After` all fit
inside it, as they fit inside a request's deadline. An IdP that answers `429 Retry-After: 3600`
or hangs therefore delays such a token by at most that budget, never by an hour (REVIEW D4).
Nothing is held across the fetch: callers share the one fetch in flight, scheduled or on demand,
and the new key dict replaces the old in one assignment (the dict is never mutated, so a reader
sees either the old set or the new one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

import jwt

from sources import IdentityClient, SourceError, request_scope

__all__ = ["KeySet"]

log = logging.getLogger("switchboard.auth")


class KeySet:
    def __init__(
        self,
        identity: IdentityClient,
        algorithms: tuple[str, ...],
        *,
        min_refetch_seconds: float,
        fetch_seconds: float = 5.0,
    ) -> None:
        if not fetch_seconds > 0:
            raise ValueError("jwks_fetch_seconds must be > 0")
        self.identity = identity
        self.algorithms = algorithms
        self.min_refetch_seconds = min_refetch_seconds
        self.fetch_seconds = fetch_seconds
        self.keys: dict[str, jwt.PyJWK] = {}
        self._fetch: asyncio.Task[None] | None = None
        self._on_demand_at = float("-inf")

    async def get(self, kid: str) -> jwt.PyJWK | None:
        key = self.keys.get(kid)
        if key is None:
            await self.refresh(on_demand=True)
            key = self.keys.get(kid)
        return key

    async def refresh(self, *, on_demand: bool = False) -> None:
        """Fetch the key set, or join the fetch already in flight. On-demand fetches (an
        unknown `kid`) start at most once per `min_refetch_seconds`; scheduled ones do not
        start that cooldown, so a key rotated just after one is still picked up at once.

        A fetch in flight is joined even when it started before this call: it started at most
        `fetch_seconds` ago, and an IdP publishes a key before it signs with it. A caller that
        is cancelled leaves the fetch running for the others (shield)."""
        fetch = self._fetch
        if fetch is None:
            if on_demand:
                now = time.monotonic()
                if now - self._on_demand_at < self.min_refetch_seconds:
                    return
                self._on_demand_at = now
            fetch = self._fetch = asyncio.create_task(self._fetch_keys())
            fetch.add_done_callback(self._fetched)
        await asyncio.shield(fetch)

    async def aclose(self) -> None:
        fetch = self._fetch
        if fetch is not None:
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fetch
        await self.identity.aclose()

    async def _fetch_keys(self) -> None:
        try:
            with request_scope(self.fetch_seconds, margin=0.0):
                document = await self.identity.jwks()
        except SourceError as exc:
            log.warning("JWKS fetch failed (%s); keeping %d known keys", exc.code, len(self.keys))
            return
        self.keys = _usable_keys(document, self.algorithms)

    def _fetched(self, fetch: asyncio.Task[None]) -> None:
        if self._fetch is fetch:
            self._fetch = None
        if not fetch.cancelled() and (error := fetch.exception()) is not None:
            # retrieved here too, so it is logged even when every waiter was cancelled
            log.error(
                "JWKS fetch crashed (%s); keeping %d known keys",
                type(error).__name__,
                len(self.keys),
            )


def _usable_keys(document: Mapping[str, Any], algorithms: tuple[str, ...]) -> dict[str, jwt.PyJWK]:
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document.get("keys", []):
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK.from_dict(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError):
            log.warning("skipping unusable JWKS entry kid=%r", entry.get("kid"))
            continue
        if key.algorithm_name in algorithms:
            keys[entry["kid"]] = key
    return keys
