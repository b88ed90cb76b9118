"""Authentication: a bearer JWT verified against its issuer's JWKS becomes a `Principal`.

RFC 8725 and the SECURITY.md list: several issuers may be trusted, each with its own key set,
audience, algorithm allow-list and roles claim, chosen by an exact match on `iss`; the key is
chosen by `kid` from that issuer's key set only, and `jku`/`jwk`/`x5u`/`x5c` headers are refused
(never fetched, never trusted); `exp`, `sub`, `aud` and `iss` are required and the time claims
must be numbers (PyJWT would take "exp": "2000000000"); unknown `crit` extensions are refused;
the algorithm allow-list is always passed, so `none` and HS256-with-our-public-key fail.
Every refusal is the same `InvalidToken` to the client; a malformed claim (an `iss` that is a list,
a `sub` that is a number) is a refusal like any other, never an exception. Identities are
per issuer: `Principal.identity` is (issuer, subject), each issuer grants only its configured
roles, and only a workforce issuer's subjects may be verified as agents. A verified token is
remembered (bounded LRU, keyed by the SHA-256 of the whole raw token) until its `exp`, the next
JWKS refresh or a change of its issuer's keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cachetools import LRUCache
from jwt.exceptions import InvalidSubjectError

from gateway.auth.keyset import KeySet
from gateway.config import AuthSettings, IssuerSettings
from sources import IdentityClient

__all__ = ["Authenticator", "InvalidToken", "Principal"]

log = logging.getLogger("switchboard.auth")

_KID = re.compile(r"[A-Za-z0-9._\-]{1,128}")
_UNTRUSTED_HEADERS = frozenset({"jku", "jwk", "x5u", "x5c"})
_TIME_CLAIMS = ("exp", "nbf", "iat")
_MAX_TIME = 2**53  # seconds: far beyond any real date, and exact as a float


class InvalidToken(Exception):
    """Any reason a token is refused. The client only ever learns "invalid token" (and, in the
    development profile, `reason`); the server log gets `reason`, never the token. Reasons are
    fixed phrases chosen here, never text taken from the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    roles: frozenset[str]
    issuer: str
    expires_at: float
    may_verify: bool = False
    """The issuer is the workforce IdP ([auth] verification): only then may an interaction's
    agent id be matched against `subject`."""

    @property
    def identity(self) -> tuple[str, str]:
        """(issuer, subject): the key of everything kept per caller. A `sub` is unique only
        within its issuer; a partner IdP may mint any `sub` it likes."""
        return (self.issuer, self.subject)


@dataclass(slots=True)
class _Issuer:
    settings: IssuerSettings
    keys: KeySet


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token already verified (REVIEW D13: the signature check is ~11% of an IVR request's
    CPU). Good until `until` (its `exp`, and at most one JWKS refresh interval), and only while
    its issuer's key set is the very one it was verified with: every successful JWKS fetch
    replaces that mapping, so a key set that changed (a key revoked) flushes the entry."""

    principal: Principal
    keys: Mapping[str, jwt.PyJWK]
    until: float


class Authenticator:
    def __init__(
        self,
        settings: AuthSettings,
        identities: Mapping[str, IdentityClient] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`identities` (issuer -> client) may be injected; by default one per JWKS URL."""
        self.settings = settings
        self._clock = clock
        # only tokens that passed every check get in, so the cache cannot be filled by strangers;
        # keyed by the SHA-256 of the whole token (header, claims and signature: a token whose
        # signature was altered is another key), so the cache holds no bearer token itself
        self._verified: LRUCache[bytes, _Verified] | None = (
            LRUCache(maxsize=settings.verified_cache_size) if settings.verified_cache_size else None
        )
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
        digest = hashlib.sha256(token.encode()).digest() if self._verified is not None else b""
        hit = self._verified.get(digest) if self._verified is not None else None
        if hit is not None:
            if (
                hit.keys is self._issuers[hit.principal.issuer].keys.keys
                and self._clock() < hit.until
            ):
                return hit.principal
            self._forget(digest)
        try:  # header and claims in one parse; nothing here is trusted yet
            parsed = jwt.decode_complete(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise InvalidToken("malformed token") from None
        header: dict[str, Any] = parsed["header"]
        unverified: dict[str, Any] = parsed["payload"]
        if _UNTRUSTED_HEADERS & header.keys():
            raise InvalidToken("key-locating header")
        iss = unverified.get("iss")
        if not isinstance(iss, str):  # a list or an object is not hashable: no lookup at all
            raise InvalidToken("missing or malformed iss")
        issuer = self._issuers.get(iss)
        if issuer is None:
            raise InvalidToken("unknown issuer")
        kid = header.get("kid")
        if not isinstance(kid, str) or not _KID.fullmatch(kid):
            raise InvalidToken("missing or malformed kid")
        key = await issuer.keys.get(kid)
        if key is None:
            raise InvalidToken("unknown kid")
        keys = issuer.keys.keys  # the mapping `key` came from: no await since
        principal = self._verify(token, key, issuer.settings)
        if self._verified is not None:
            until = min(principal.expires_at, self._clock() + self.settings.jwks_refresh_seconds)
            self._verified[digest] = _Verified(principal, keys, until)
        return principal

    def _forget(self, digest: bytes) -> None:
        if self._verified is not None:
            self._verified.pop(digest, None)

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
            raise InvalidToken(_reason(exc)) from None
        for name in _TIME_CLAIMS:
            value = claims.get(name)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not -_MAX_TIME < value < _MAX_TIME  # also NaN; 10**400 is no float
            ):
                raise InvalidToken(f"{name} is not a number")
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("malformed sub")
        return Principal(
            subject=subject,
            roles=_granted(_roles(claims, issuer.roles_claim), issuer),
            issuer=issuer.issuer,
            expires_at=float(claims["exp"]),
            may_verify=issuer.verification,
        )


# PyJWT's exception -> the reason logged (its messages may quote the token's values)
_REASONS: tuple[tuple[type[jwt.InvalidTokenError], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not yet valid (nbf/iat in the future)"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.InvalidIssuerError, "wrong issuer"),
    (jwt.MissingRequiredClaimError, "missing claim"),
    (jwt.InvalidSignatureError, "bad signature"),
    (jwt.InvalidAlgorithmError, "algorithm not allowed"),
    (InvalidSubjectError, "malformed sub"),
)


def _reason(exc: jwt.InvalidTokenError) -> str:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"missing claim {exc.claim}"  # one of the four names we require
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    return "malformed token"


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise InvalidToken("no credentials")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("not a bearer token")
    return token.strip()


def _roles(claims: Mapping[str, Any], name: str) -> list[str]:
    """The roles at `name` (see `IssuerSettings.roles_claim`): a literal claim when the name
    has a colon ("https://example.com/roles"), else a dotted path ("realm_access.roles"), never
    a top-level key spelled with dots; a list of strings or a space/comma-separated string.
    Absent: no roles. Present but of another shape: the token is malformed."""
    node: Any = claims.get(name) if ":" in name else claims
    if ":" not in name:
        for part in name.split("."):
            if node is None:
                return []
            if not isinstance(node, Mapping):
                raise InvalidToken("malformed roles claim")
            node = node.get(part)
    if node is None:
        return []
    if isinstance(node, str):
        return node.replace(",", " ").split()
    if isinstance(node, list) and all(isinstance(r, str) for r in node):
        return node
    raise InvalidToken("malformed roles claim")


def _granted(roles: list[str], issuer: IssuerSettings) -> frozenset[str]:
    """The roles the issuer may grant ([auth.issuers] roles); others are dropped."""
    if "*" in issuer.roles:
        return frozenset(roles)
    granted = frozenset(roles) & frozenset(issuer.roles)
    if len(granted) < len(set(roles)):
        log.debug(
            "dropped roles %s: not granted by issuer %s",
            sorted(set(roles) - granted),
            issuer.issuer,
        )
    return granted
