"""Rate limits per subject: 429 with Retry-After before any GraphQL work; per-role rules; shared
across replicas through Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.limits.ratelimit import LocalLimiter, RedisLimiter, Rule
from tests.support.redis import redis_server

from .conftest import METERED, Production

ISS = "https://idp.test/realms/cc"


async def test_a_subject_over_its_rate_gets_429_with_retry_after(production: Production) -> None:
    await production.reset()
    statuses = []
    for _ in range(5):  # the metered role: burst 3, then 1 every 5 s
        response = await production.post({"query": "{ __typename }"}, role=METERED)
        statuses.append(response.status_code)
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    other = await production.post({"query": "{ __typename }"}, role="agent")
    assert other.status_code == 200  # another subject is not affected


async def test_local_buckets_refill_at_their_rate() -> None:
    now = [0.0]
    limiter = LocalLimiter(clock=lambda: now[0])
    rule = Rule(rate=2.0, burst=2)
    assert [await limiter.acquire(ISS, "s", rule) for _ in range(3)] == [None, None, 0.5]
    now[0] += 0.5
    assert await limiter.acquire(ISS, "s", rule) is None
    assert await limiter.acquire(ISS, "t", rule) is None


@pytest.fixture
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


async def test_redis_buckets_are_shared_by_replicas(redis_url: str) -> None:
    one, two = RedisLimiter(redis_url), RedisLimiter(redis_url)
    rule = Rule(rate=0.1, burst=2)
    results = [await one.acquire(ISS, "agent-1", rule), await two.acquire(ISS, "agent-1", rule)]
    assert results == [None, None]
    wait = await one.acquire(ISS, "agent-1", rule)  # the third, on either replica: refused
    assert wait is not None and 0 < wait <= 10
    assert await two.acquire(ISS, "agent-2", rule) is None
    await one.aclose()
    await two.aclose()


async def test_redis_buckets_are_per_issuer(redis_url: str) -> None:
    """A partner IdP minting an agent's `sub` floods its own bucket, not the agent's; no pair
    of (issuer, sub) spells another pair's key, whatever either contains."""
    limiter = RedisLimiter(redis_url)
    rule = Rule(rate=0.1, burst=1)
    partner = "https://login.partner.test/oauth2"
    assert await limiter.acquire(partner, "agent-1", rule) is None
    assert await limiter.acquire(partner, "agent-1", rule) is not None  # the partner: limited
    assert await limiter.acquire(ISS, "agent-1", rule) is None  # the agent: not
    # ids with the separator in them: ("a:b", "c") and ("a", "b:c") are distinct buckets
    assert await limiter.acquire("a:b", "c", rule) is None
    assert await limiter.acquire("a", "b:c", rule) is None
    await limiter.aclose()
