"""Authentication: a bearer JWT verified against its issuer's JWKS becomes a `Principal`.

RFC 8725 and the SECURITY.md list: several issuers may be trusted, each with its own key set,
audience, algorithm allow-list and roles claim, chosen by an exact match on `iss`; the key is
chosen by `kid` from that issuer's key set only, and `jku`/`jwk`/`x5u`/`x5c` headers are refused
(never fetched, never trusted); `exp`, `sub`, `aud` and `iss` are required and the time claims
must be numbers (PyJWT would take "exp": "2000000000"); unknown `crit` extensions are refused;
the algorithm allow-list is always passed, so `none` and HS256-with-our-public-key fail.
Every refusal is the same `InvalidToken` to the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from sources import IdentityClient

from .config import AuthSettings, IssuerSettings
from .jwks import KeySet

__all__ = ["Authenticator", "InvalidToken", "Principal"]

_KID = re.compile(r"[A-Za-z0-9._\-]{1,128}")
_UNTRUSTED_HEADERS = frozenset({"jku", "jwk", "x5u", "x5c"})
_TIME_CLAIMS = ("exp", "nbf", "iat")


class InvalidToken(Exception):
    """Any reason a token is refused. The client only ever learns "invalid token"."""


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    roles: frozenset[str]
    issuer: str
    expires_at: float


@dataclass(slots=True)
class _Issuer:
    settings: IssuerSettings
    keys: KeySet


class Authenticator:
    def __init__(
        self, settings: AuthSettings, identities: Mapping[str, IdentityClient] | None = None
    ) -> None:
        """`identities` (issuer -> client) may be injected; by default one per JWKS URL."""
        self.settings = settings
        self._issuers: dict[str, _Issuer] = {}
        for issuer in settings.issuers:
            client = (identities or {}).get(issuer.issuer) or IdentityClient(issuer.jwks_url)
            keys = KeySet(
                client,
                issuer.algorithms,
                min_refetch_seconds=settings.jwks_min_refetch_seconds,
                fetch_seconds=settings.jwks_fetch_seconds,
            )
            self._issuers[issuer.issuer] = _Issuer(issuer, keys)
        self._refresher: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return all(i.keys.keys for i in self._issuers.values())

    async def start(self) -> None:
        await self.refresh()
        self._refresher = asyncio.create_task(self._refresh_forever())

    async def refresh(self) -> None:
        await asyncio.gather(*(i.keys.refresh() for i in self._issuers.values()))

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        for issuer in self._issuers.values():
            await issuer.keys.aclose()

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.jwks_refresh_seconds)
            await self.refresh()

    async def authenticate(self, authorization: str | None) -> Principal:
        token = _bearer(authorization)
        if len(token) > self.settings.max_token_bytes:
            raise InvalidToken("oversized token")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise InvalidToken("malformed token") from None
        if _UNTRUSTED_HEADERS & header.keys():
            raise InvalidToken("key-locating header")
        issuer = self._issuers.get(unverified.get("iss"))  # type: ignore[arg-type]
        if issuer is None:
            raise InvalidToken("untrusted issuer")
        kid = header.get("kid")
        if not isinstance(kid, str) or not _KID.fullmatch(kid):
            raise InvalidToken("bad kid")
        key = await issuer.keys.get(kid)
        if key is None:
            raise InvalidToken("unknown kid")
        return self._verify(token, key, issuer.settings)

    def _verify(self, token: str, key: jwt.PyJWK, issuer: IssuerSettings) -> Principal:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(issuer.algorithms),
                audience=issuer.audience,
                issuer=issuer.issuer,
                leeway=self.settings.leeway,
                options={"require": ["exp", "sub", "aud", "iss"]},
            )
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(type(exc).__name__) from None
        for name in _TIME_CLAIMS:
            value = claims.get(name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise InvalidToken(f"{name} is not a number")
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("bad sub")
        return Principal(
            subject=subject,
            roles=frozenset(_roles(claims, issuer.roles_claim)),
            issuer=issuer.issuer,
            expires_at=float(claims["exp"]),
        )


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise InvalidToken("no credentials")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("not a bearer token")
    return token.strip()


def _roles(claims: Mapping[str, Any], path: str) -> list[str]:
    """Roles at a dotted claim path ("roles", "realm_access.roles", a namespaced URL claim) or
    a space-separated string ("scope", "scp")."""
    node: Any = claims.get(path) if path in claims else claims
    if path not in claims:
        for part in path.split("."):
            if not isinstance(node, Mapping):
                return []
            node = node.get(part)
    if isinstance(node, str):
        return node.replace(",", " ").split()
    if isinstance(node, list):
        return [r for r in node if isinstance(r, str)]
    return []
