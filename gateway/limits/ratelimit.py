"""Rate limits per caller (a token bucket per (issuer, `sub`): a `sub` is unique only within its
issuer, so a partner IdP minting an agent's `sub` floods its own bucket, not the agent's), so no
token can walk the customer base or starve the others. In-process by default; shared by every
replica through Redis when a Redis URL is configured. Over the limit: 429 with Retry-After, before
any GraphQL work."""

from __future__ import annotations

import functools
import hashlib
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from cachetools import TTLCache

from gateway.redis_client import redis_client

__all__ = [
    "LocalLimiter",
    "RateLimitSettings",
    "RateLimiter",
    "RedisLimiter",
    "Rule",
    "limiter_for",
    "redis_key",
]


@dataclass(frozen=True, slots=True)
class Rule:
    rate: float
    """Tokens added per second."""
    burst: int
    """Bucket size: requests that may arrive at once."""

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate limits need rate > 0 and burst >= 1")


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    enabled: bool = True
    rate: float = 20.0
    burst: int = 40
    redis_url: str = ""
    roles: Mapping[str, Rule] = field(default_factory=dict)
    """Per-role rules ([rate_limit.roles.<role>] rate/burst); a caller gets their most generous."""

    def rule_for(self, roles: Iterable[str]) -> Rule:
        rules = [self.roles[r] for r in roles if r in self.roles]
        return max(rules, key=lambda r: (r.rate, r.burst)) if rules else Rule(self.rate, self.burst)


class RateLimiter(Protocol):
    async def acquire(self, issuer: str, subject: str, rule: Rule) -> float | None:
        """None when allowed; else the seconds until a request would be."""

    async def aclose(self) -> None: ...


class LocalLimiter:
    """Buckets in this process (bounded: idle subjects are forgotten after an hour)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._buckets: TTLCache[tuple[str, str], tuple[float, float]] = TTLCache(
            maxsize=100_000, ttl=3600
        )
        self._clock = clock

    async def acquire(self, issuer: str, subject: str, rule: Rule) -> float | None:
        now = self._clock()
        key = (issuer, subject)
        tokens, then = self._buckets.get(key, (float(rule.burst), now))
        tokens = min(float(rule.burst), tokens + (now - then) * rule.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return None
        self._buckets[key] = (tokens, now)
        return float((1.0 - tokens) / rule.rate)

    async def aclose(self) -> None:
        return None


# KEYS[1] bucket; ARGV rate, burst, now (s). One atomic step, so replicas share one bucket.
_BUCKET_SCRIPT = """
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return tostring(wait)
"""


class RedisLimiter:
    """Buckets in Redis, shared by every replica (one Lua script call per request)."""

    def __init__(self, url: str) -> None:
        # more requests in flight than the client has connections wait for one (up to 5 s);
        # past that, as when Redis is unreachable, `acquire` raises: the request fails (500)
        self._redis = redis_client(url)
        self._script = self._redis.register_script(_BUCKET_SCRIPT)

    async def acquire(self, issuer: str, subject: str, rule: Rule) -> float | None:
        wait = float(
            await self._script(
                keys=[redis_key(issuer, subject)], args=[rule.rate, rule.burst, time.time()]
            )
        )
        return None if wait <= 0 else wait

    async def aclose(self) -> None:
        await self._redis.aclose()


@functools.lru_cache(maxsize=64)
def _issuer_tag(issuer: str) -> str:
    return hashlib.sha256(issuer.encode()).hexdigest()


def redis_key(issuer: str, subject: str) -> str:
    """`switchboard:rl:<sha256(issuer)>:<sub>`. The issuer's part has a fixed length and no
    colon, so no (issuer, sub) pair can spell another's key, whatever either contains."""
    return f"switchboard:rl:{_issuer_tag(issuer)}:{subject}"


def limiter_for(settings: RateLimitSettings) -> RateLimiter:
    return RedisLimiter(settings.redis_url) if settings.redis_url else LocalLimiter()


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
