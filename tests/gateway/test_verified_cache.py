"""The verified-token cache (REVIEW D13): a token is verified once and then served from memory
until its `exp`, the next JWKS refresh interval, or a change of its issuer's key set, whichever
comes first; refusals are never remembered."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime
from typing import Any

import jwt
import pytest

from gateway.auth.authenticator import Authenticator, InvalidToken
from gateway.config import AuthSettings, ConfigError, IssuerSettings, build_config
from sources import SYSTEMS, IdentityClient
from sources.transport import HttpxExchange

from .keys import AUDIENCE, ISSUER, JWKS_URL, FakeIdp, SigningKey


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey("k1")


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def started(idp: FakeIdp, clock: Clock, **settings: Any) -> Authenticator:
    issuer = IssuerSettings(
        issuer=ISSUER, audience=AUDIENCE, jwks_url=JWKS_URL, roles=("*",), verification=True
    )
    auth = Authenticator(
        AuthSettings(issuers=(issuer,), **settings),
        {ISSUER: IdentityClient(JWKS_URL, exchange=HttpxExchange.over(idp.transport()))},
        clock=clock,
    )
    await auth.start()
    return auth


async def test_a_token_is_verified_once(key: SigningKey) -> None:
    auth = await started(FakeIdp(key), Clock())
    token = f"Bearer {key.token()}"
    first = await auth.authenticate(token)
    assert await auth.authenticate(token) is first
    await auth.close()


async def test_the_cache_can_be_turned_off(key: SigningKey) -> None:
    auth = await started(FakeIdp(key), Clock(), verified_cache_size=0)
    token = f"Bearer {key.token()}"
    first = await auth.authenticate(token)
    second = await auth.authenticate(token)
    assert second == first and second is not first
    await auth.close()


async def test_a_cached_token_is_not_served_past_its_exp(key: SigningKey) -> None:
    clock = Clock()
    auth = await started(FakeIdp(key), clock)
    token = f"Bearer {key.token(exp=int(clock.now) + 60)}"
    first = await auth.authenticate(token)
    clock.now += 61
    assert await auth.authenticate(token) is not first  # verified again, not remembered
    await auth.close()


async def test_a_cached_token_is_verified_again_after_a_refresh_interval(key: SigningKey) -> None:
    clock = Clock()
    auth = await started(FakeIdp(key), clock, jwks_refresh_seconds=300)
    token = f"Bearer {key.token(exp=int(clock.now) + 3600)}"
    first = await auth.authenticate(token)
    clock.now += 301
    assert await auth.authenticate(token) is not first
    await auth.close()


async def test_a_key_removed_from_the_jwks_flushes_its_tokens(key: SigningKey) -> None:
    idp = FakeIdp(key)
    auth = await started(idp, Clock())
    token = f"Bearer {key.token()}"
    await auth.authenticate(token)
    idp.keys = [SigningKey("k2")]  # k1 revoked
    await auth.refresh()
    with pytest.raises(InvalidToken):
        await auth.authenticate(token)
    await auth.close()


async def test_refusals_are_not_remembered(key: SigningKey) -> None:
    idp = FakeIdp()
    auth = await started(idp, Clock(), jwks_min_refetch_seconds=0)
    token = f"Bearer {key.token()}"
    with pytest.raises(InvalidToken):
        await auth.authenticate(token)  # the key is not published yet
    idp.keys = [key]
    assert (await auth.authenticate(token)).subject == "agent-0001"
    await auth.close()


def test_a_negative_cache_size_is_a_config_error() -> None:
    sources = {n: {"base_url": f"http://{n}"} for n in SYSTEMS}
    auth = {"issuer": ISSUER, "audience": AUDIENCE, "jwks_url": JWKS_URL}
    with pytest.raises(ConfigError, match="verified_cache_size"):
        build_config({"auth": {**auth, "verified_cache_size": -1}, "sources": sources}, env={})


def _pyjwt_clock(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    """PyJWT's clock (`jwt.api_jwt.datetime.now`) driven by the test's `Clock`."""

    class Now(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Now:
            return cls.fromtimestamp(clock.now, tz=tz)

    monkeypatch.setattr(jwt.api_jwt, "datetime", Now)


async def test_a_cached_token_past_its_exp_is_refused(
    key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Remembered until `exp`, never beyond: inside the clock-skew leeway it is verified again
    (and still accepted, as without the cache); past `exp` + leeway it is refused."""
    clock = Clock()
    _pyjwt_clock(monkeypatch, clock)
    auth = await started(FakeIdp(key), clock, leeway=30)
    exp = int(clock.now) + 60
    token = f"Bearer {key.token(exp=exp)}"
    first = await auth.authenticate(token)
    assert await auth.authenticate(token) is first
    clock.now = exp + 10  # past exp, inside the leeway: not from the cache
    assert await auth.authenticate(token) is not first
    clock.now = exp + 31
    with pytest.raises(InvalidToken, match="expired"):
        await auth.authenticate(token)
    await auth.close()


async def test_a_token_with_another_signature_is_not_served_from_the_cache(
    key: SigningKey,
) -> None:
    auth = await started(FakeIdp(key), Clock())
    token = key.token()
    await auth.authenticate(f"Bearer {token}")
    head, claims, signature = token.split(".")
    middle = len(signature) // 2
    swapped = "A" if signature[middle] != "A" else "B"
    forged = ".".join((head, claims, signature[:middle] + swapped + signature[middle + 1 :]))
    with pytest.raises(InvalidToken, match="bad signature"):
        await auth.authenticate(f"Bearer {forged}")
    await auth.close()


async def test_a_key_added_to_the_jwks_flushes_the_cache(key: SigningKey) -> None:
    """Any change of the issuer's key set (a rotation publishing a new key, too) verifies the
    remembered tokens again."""
    idp = FakeIdp(key)
    auth = await started(idp, Clock())
    token = f"Bearer {key.token()}"
    first = await auth.authenticate(token)
    idp.keys = [key, SigningKey("k2")]
    await auth.refresh()
    again = await auth.authenticate(token)
    assert again == first and again is not first
    assert await auth.authenticate(token) is again
    await auth.close()


async def test_the_cache_is_bounded(key: SigningKey) -> None:
    auth = await started(FakeIdp(key), Clock(), verified_cache_size=2)
    tokens = [f"Bearer {key.token(sub=f'agent-{n}')}" for n in range(3)]
    first = await auth.authenticate(tokens[0])
    for token in tokens[1:]:
        await auth.authenticate(token)
    assert len(auth._verified or ()) == 2
    assert await auth.authenticate(tokens[0]) is not first  # evicted: verified again
    await auth.close()


async def test_the_cache_keeps_no_token(key: SigningKey) -> None:
    """Keyed by the token's SHA-256: a memory dump of the cache holds no bearer token."""
    auth = await started(FakeIdp(key), Clock())
    token = key.token()
    await auth.authenticate(f"Bearer {token}")
    cache = auth._verified
    assert cache is not None and len(cache) == 1
    assert list(cache) == [hashlib.sha256(token.encode()).digest()]
    await auth.close()
