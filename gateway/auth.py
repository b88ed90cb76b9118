"""Authentication: a bearer JWT verified against the issuer's JWKS becomes a `Principal`.

RFC 8725: the algorithm allow-list is always passed; `exp`, `sub`, `aud` and `iss` are required
(PyJWT checks claims only if present); the key is chosen by `kid` from our own key set only —
`jku`/`jwk`/`x5u` headers are never fetched or trusted. Keys are fetched with the async transport,
cached, refreshed in the background and on an unknown `kid` (single-flight, rate-limited), so a
rotated key is picked up without a restart and a JWKS outage does not block tokens signed with
keys we already hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from sources import IdentityClient, SourceError

from .config import AuthSettings

__all__ = ["Authenticator", "InvalidToken", "Principal"]

log = logging.getLogger("switchboard.auth")


class InvalidToken(Exception):
    """Any reason a token is refused. The client only ever learns "invalid token"."""


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    roles: frozenset[str]
    issuer: str
    expires_at: float


class Authenticator:
    def __init__(self, settings: AuthSettings, identity: IdentityClient) -> None:
        self.settings = settings
        self.identity = identity
        self._keys: dict[str, jwt.PyJWK] = {}
        self._attempted_at = float("-inf")
        self._lock = asyncio.Lock()
        self._refresher: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return bool(self._keys)

    async def start(self) -> None:
        await self.refresh(force=True)
        self._refresher = asyncio.create_task(self._refresh_forever())

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        await self.identity.aclose()

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.jwks_refresh_seconds)
            await self.refresh(force=True)

    async def refresh(self, *, force: bool = False) -> None:
        """Fetch the key set. Unforced refetches (an unknown `kid`) happen at most once per
        `jwks_min_refetch_seconds`, so random kids cannot hammer the IdP; scheduled ones do not
        start that cooldown, so a key rotated just after one is still picked up at once."""
        async with self._lock:
            now = time.monotonic()
            if not force:
                if now - self._attempted_at < self.settings.jwks_min_refetch_seconds:
                    return
                self._attempted_at = now
            try:
                document = await self.identity.jwks()
            except SourceError as exc:
                log.warning(
                    "JWKS fetch failed (%s); keeping %d known keys", exc.code, len(self._keys)
                )
                return
            self._keys = _usable_keys(document, self.settings.algorithms)

    async def authenticate(self, authorization: str | None) -> Principal:
        token = _bearer(authorization)
        if len(token) > self.settings.max_token_bytes:
            raise InvalidToken("oversized token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise InvalidToken("malformed token") from None
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("no kid")
        key = self._keys.get(kid)
        if key is None:
            await self.refresh()
            key = self._keys.get(kid)
            if key is None:
                raise InvalidToken("unknown kid")
        return self._verify(token, key)

    def _verify(self, token: str, key: jwt.PyJWK) -> Principal:
        s = self.settings
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(s.algorithms),
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway,
                options={"require": ["exp", "sub", "aud", "iss"]},
            )
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(type(exc).__name__) from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("bad sub")
        return Principal(
            subject=subject,
            roles=frozenset(_roles(claims, s.roles_claim)),
            issuer=str(claims["iss"]),
            expires_at=float(claims["exp"]),
        )


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise InvalidToken("no credentials")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("not a bearer token")
    return token.strip()


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


def _roles(claims: Mapping[str, Any], path: str) -> list[str]:
    """Roles at a dotted claim path: "roles", "realm_access.roles", or a space-separated "scope"."""
    node: Any = claims
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return []
        node = node.get(part)
    if isinstance(node, str):
        return node.replace(",", " ").split()
    if isinstance(node, list):
        return [r for r in node if isinstance(r, str)]
    return []
