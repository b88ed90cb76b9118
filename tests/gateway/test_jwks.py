"""The key set under a misbehaving IdP (REVIEW D4): a rate-limited or hanging JWKS endpoint
delays a token with an unknown `kid` by at most the fetch budget, concurrent lookups share one
fetch, and a cancelled lookup or shutdown leaves nothing behind. `asyncio.wait_for` bounds are
guards against the old hour-long wait, not measurements."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from gateway.auth.keyset import KeySet
from sources import IdentityClient
from sources.transport import HttpxExchange

from .keys import JWKS_URL, SigningKey

GUARD = 5.0
"""Seconds after which a lookup counts as blocked (the old code blocked for an hour)."""


class Idp:
    """A JWKS endpoint: serves `keys`, or `answer` instead once set; a call waits while `gate`
    is closed; `entered` is set when a call has arrived; counts the calls."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.answer: httpx.Response | None = None
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()
        self.calls = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        self.entered.set()
        await self.gate.wait()
        if self.answer is not None:
            return self.answer
        return httpx.Response(200, json={"keys": [k.jwk for k in self.keys]})


@pytest.fixture(scope="module")
def k1() -> SigningKey:
    return SigningKey("k1")


@pytest.fixture(scope="module")
def k2() -> SigningKey:
    return SigningKey("k2", alg="ES256")


async def key_set(idp: Idp, **settings: Any) -> KeySet:
    keys = KeySet(
        IdentityClient(JWKS_URL, exchange=HttpxExchange.over(httpx.MockTransport(idp))),
        ("RS256", "ES256"),
        min_refetch_seconds=settings.pop("min_refetch_seconds", 10.0),
        **settings,
    )
    await keys.refresh()
    assert idp.calls == 1
    idp.entered.clear()
    return keys


async def test_a_rate_limited_idp_never_makes_a_lookup_sleep_for_an_hour(k1: SigningKey) -> None:
    idp = Idp(k1)
    keys = await key_set(idp)
    idp.answer = httpx.Response(429, json={}, headers={"retry-after": "3600"})
    scheduled = asyncio.create_task(keys.refresh())
    assert await asyncio.wait_for(keys.get("k2"), GUARD) is None
    await asyncio.wait_for(scheduled, GUARD)
    assert idp.calls == 2  # one fetch, shared; no retry before the hour is up
    assert await keys.get("k1") is not None  # the keys already held still serve
    await keys.aclose()


async def test_a_hanging_idp_delays_an_unknown_kid_by_the_fetch_budget_only(
    k1: SigningKey,
) -> None:
    idp = Idp(k1)
    keys = await key_set(idp, fetch_seconds=0.1)
    idp.gate.clear()  # from now on the IdP never answers
    scheduled = asyncio.create_task(keys.refresh())
    await idp.entered.wait()
    assert await keys.get("k1") is not None  # known keys never wait for the fetch
    assert await asyncio.wait_for(keys.get("k2"), GUARD) is None
    assert scheduled.done()  # the lookup joined the scheduled fetch and both ended with it
    await keys.aclose()


async def test_concurrent_unknown_kids_share_one_fetch(k1: SigningKey, k2: SigningKey) -> None:
    idp = Idp(k1)
    keys = await key_set(idp)
    idp.keys.append(k2)  # rotated at the IdP
    idp.gate.clear()
    lookups = [asyncio.create_task(keys.get("k2")) for _ in range(10)]
    scheduled = asyncio.create_task(keys.refresh())
    await idp.entered.wait()
    idp.gate.set()
    found = await asyncio.wait_for(asyncio.gather(*lookups), GUARD)
    await scheduled
    assert all(key is not None and key.algorithm_name == "ES256" for key in found)
    assert idp.calls == 2
    await keys.aclose()


async def test_a_cancelled_lookup_leaves_the_fetch_to_the_others(
    k1: SigningKey, k2: SigningKey
) -> None:
    idp = Idp(k1)
    keys = await key_set(idp)
    idp.keys.append(k2)
    idp.gate.clear()
    leaving = asyncio.create_task(keys.get("k2"))
    staying = asyncio.create_task(keys.get("k2"))
    await idp.entered.wait()
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    idp.gate.set()
    assert await asyncio.wait_for(staying, GUARD) is not None
    assert idp.calls == 2
    await keys.aclose()


async def test_closing_cancels_a_fetch_in_flight(k1: SigningKey) -> None:
    idp = Idp(k1)
    keys = await key_set(idp)
    idp.gate.clear()
    scheduled = asyncio.create_task(keys.refresh())
    await idp.entered.wait()
    await asyncio.wait_for(keys.aclose(), GUARD)
    with pytest.raises(asyncio.CancelledError):
        await scheduled
    # the transport it used is in a defined state: nothing in flight, no probe held
    transport = keys.identity.transport
    assert transport.bulkhead.in_flight == 0 and transport.breaker.state == "closed"


def test_the_fetch_budget_must_be_positive() -> None:
    identity = IdentityClient(JWKS_URL, exchange=HttpxExchange.over(httpx.MockTransport(Idp())))
    with pytest.raises(ValueError, match="jwks_fetch_seconds"):
        KeySet(identity, ("RS256",), min_refetch_seconds=10.0, fetch_seconds=0)
