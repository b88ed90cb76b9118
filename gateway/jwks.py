"""One issuer's signing keys, fetched as JWKS through the sources transport.

Cached, refreshed in the background and on an unknown `kid` (single-flight, rate-limited), so a
rotated key is picked up without a restart, random kids cannot hammer the IdP, and an outage of
the JWKS endpoint does not block tokens signed with keys already held. Never PyJWKClient: it
fetches with blocking urllib under a lock (STACK-NOTES A4).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

import jwt

from sources import IdentityClient, SourceError

__all__ = ["KeySet"]

log = logging.getLogger("switchboard.auth")


class KeySet:
    def __init__(
        self,
        identity: IdentityClient,
        algorithms: tuple[str, ...],
        *,
        min_refetch_seconds: float,
    ) -> None:
        self.identity = identity
        self.algorithms = algorithms
        self.min_refetch_seconds = min_refetch_seconds
        self.keys: dict[str, jwt.PyJWK] = {}
        self._lock = asyncio.Lock()
        self._on_demand_at = float("-inf")

    async def get(self, kid: str) -> jwt.PyJWK | None:
        key = self.keys.get(kid)
        if key is None:
            await self.refresh(on_demand=True)
            key = self.keys.get(kid)
        return key

    async def refresh(self, *, on_demand: bool = False) -> None:
        """Fetch the key set. On-demand refetches (an unknown `kid`) happen at most once per
        `min_refetch_seconds`; scheduled ones do not start that cooldown, so a key rotated just
        after one is still picked up at once. Concurrent callers share one fetch."""
        async with self._lock:
            if on_demand:
                now = time.monotonic()
                if now - self._on_demand_at < self.min_refetch_seconds:
                    return
                self._on_demand_at = now
            try:
                document = await self.identity.jwks()
            except SourceError as exc:
                log.warning(
                    "JWKS fetch failed (%s); keeping %d known keys", exc.code, len(self.keys)
                )
                return
            self.keys = _usable_keys(document, self.algorithms)

    async def aclose(self) -> None:
        await self.identity.aclose()


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
