"""The identity provider's key set (JWKS), fetched through the same transport seam.

PyJWKClient is not used: it fetches with blocking urllib under a lock (STACK-NOTES A4).
"""

from __future__ import annotations

from typing import Any

from ._errors import SourceBadResponse
from ._settings import SourceSettings
from .transport import ExchangeFactory, Transport, open_exchange

__all__ = ["IdentityClient"]


class IdentityClient:
    def __init__(
        self,
        jwks_url: str,
        *,
        timeout: float = 2.0,
        exchange: ExchangeFactory = open_exchange,
    ) -> None:
        base, _, leaf = jwks_url.rpartition("/")
        if not leaf:
            raise ValueError("jwks_url must name the key-set document")
        self._path = "/" + leaf
        settings = SourceSettings(
            name="idp", base_url=base, timeout=timeout, max_body_bytes=256 * 1024
        )
        self.transport = Transport(settings, exchange=exchange)

    async def jwks(self) -> dict[str, Any]:
        body = await self.transport.get_json(self._path)
        if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
            raise SourceBadResponse("idp", "idp answered a malformed key set")
        return body

    async def aclose(self) -> None:
        await self.transport.aclose()
