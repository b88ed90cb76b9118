"""Per-subject budgets against bulk copying and lookup oracles (issue #12, items 3 and 4).

- **Data budget**: the distinct customers whose sensitive fields a subject was shown (any
  treatment but deny/redact) per window. Past it those fields are denied with
  DATA_BUDGET_EXCEEDED; one `data_budget_exceeded` alert line per subject and window.
- **Lookups**: root fields that find customers (`findCustomers`, `customer`, `customers`,
  `interaction`, `routingContext`, aliases included) are capped per operation, and the search
  keys a subject tries (`findCustomers` calls, `routingContext` by phone) per window:
  LOOKUP_LIMIT, before any back-end call.

Both are keyed by (issuer, subject), in-process by default (bounded TTL structures) and shared by
every replica through Redis when `[rate_limit] redis_url` is set, as the rate limit is.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from cachetools import TTLCache
from graphql import GraphQLError

from gateway.limits.lookups import Lookup, find_lookups
from gateway.redis_client import redis_client
from schema import Owner

__all__ = [
    "DataBudget",
    "DataBudgetSettings",
    "Ledger",
    "Lookup",
    "LookupSettings",
    "Lookups",
    "Who",
    "budgets_for",
    "find_lookups",
    "lookup_error",
]

Who = tuple[str, str]
"""(issuer, subject): a subject is only unique within its issuer."""


def _by_role(roles: Mapping[str, int], default: int, caller: Iterable[str]) -> int:
    """A caller with several roles gets their most generous limit, as with the rate limit."""
    limits = [roles[r] for r in caller if r in roles]
    return max(limits) if limits else default


@dataclass(frozen=True, slots=True)
class DataBudgetSettings:
    enabled: bool = True
    window_seconds: float = 3600.0
    customers: int = 30
    """For roles not listed in `roles`."""
    roles: Mapping[str, int] = field(
        default_factory=lambda: {
            "agent": 60,
            "collections": 150,
            "supervisor": 60,
            "fraud_analyst": 300,
            "ivr": 20_000,
        }
    )

    def __post_init__(self) -> None:
        lowest = min(self.roles.values(), default=0)
        if self.window_seconds <= 0 or self.customers < 0 or lowest < 0:
            raise ValueError("data budgets need window_seconds > 0 and limits >= 0")

    def limit_for(self, roles: Iterable[str]) -> int:
        return _by_role(self.roles, self.customers, roles)


@dataclass(frozen=True, slots=True)
class LookupSettings:
    enabled: bool = True
    per_operation: int = 3
    """Lookup root fields per operation, aliases included."""
    window_seconds: float = 3600.0
    per_window: int = 60
    """Search keys (findCustomers calls) per subject per window, for roles not in `roles`."""
    roles: Mapping[str, int] = field(
        default_factory=lambda: {
            "agent": 120,
            "collections": 240,
            "supervisor": 60,
            "fraud_analyst": 600,
            "ivr": 20_000,
        }
    )

    def __post_init__(self) -> None:
        if self.window_seconds <= 0 or self.per_operation < 1 or self.per_window < 0:
            raise ValueError("lookup limits need window_seconds > 0 and per_operation >= 1")

    def limit_for(self, roles: Iterable[str]) -> int:
        return _by_role(self.roles, self.per_window, roles)


def lookup_error(message: str, retry_after: float | None = None) -> GraphQLError:
    extensions: dict[str, Any] = {"code": "LOOKUP_LIMIT"}
    if retry_after is not None:
        extensions["retryAfter"] = max(1, int(retry_after + 0.999))
    return GraphQLError(message, extensions=extensions)


def _customer_key(owner: Owner) -> str | None:
    if owner.customer_id is not None:
        return owner.customer_id
    return None if owner.profile_id is None else "profile:" + owner.profile_id


class Ledger:
    """One request's view of its subject's data budget, consulted synchronously by `Access`
    for a customer's first sensitive value. `counted` is the window's set (shared in-process,
    a snapshot with Redis); `added` what this request counted."""

    __slots__ = ("added", "counted", "exceeded", "limit", "used", "window_start")

    def __init__(self, counted: set[str], used: int, limit: int, window_start: float) -> None:
        self.window_start = window_start
        """When the window began (seconds since the epoch), for the alert."""
        self.counted = counted
        self.used = used
        self.limit = limit
        self.added: list[str] = []
        self.exceeded = False

    def admit(self, owner: Owner) -> bool:
        key = _customer_key(owner)
        if key is None or key in self.counted:
            return True
        if self.used >= self.limit:
            self.exceeded = True
            return False
        self.counted.add(key)  # the budget's own set: never handed out
        self.added.append(key)
        self.used += 1
        return True


class DataBudget(Protocol):
    async def open(self, who: Who, limit: int) -> Ledger: ...

    async def commit(self, who: Who, ledger: Ledger) -> bool:
        """Record what the request counted; True when an alert is due (the subject's first
        refusal of the window)."""

    async def aclose(self) -> None: ...


class Taken(NamedTuple):
    allowed: bool
    retry_after: float
    alert: bool


class Lookups(Protocol):
    async def take(self, who: Who, keys: int, limit: int) -> Taken: ...

    async def aclose(self) -> None: ...


class _Window:
    __slots__ = ("alerted", "count", "index", "members")

    def __init__(self, index: int) -> None:
        self.index = index
        self.members: set[str] = set()
        self.count = 0
        self.alerted = False


class _LocalWindows:
    """Fixed windows per subject, in this process; bounded (the least recently started window
    is forgotten first) and gone when their window is over."""

    def __init__(self, seconds: float, clock: Callable[[], float], maxsize: int) -> None:
        self.seconds = seconds
        self.clock = clock
        self._windows: TTLCache[Who, _Window] = TTLCache(maxsize=maxsize, ttl=seconds)

    def current(self, who: Who) -> _Window:
        index = int(self.clock() // self.seconds)
        window = self._windows.get(who)
        if window is None or window.index != index:
            window = _Window(index)
            self._windows[who] = window
        return window

    def left(self) -> float:
        return self.seconds - self.clock() % self.seconds


class LocalDataBudget:
    def __init__(
        self, seconds: float, clock: Callable[[], float] = time.time, maxsize: int = 50_000
    ) -> None:
        self._windows = _LocalWindows(seconds, clock, maxsize)

    async def open(self, who: Who, limit: int) -> Ledger:
        window = self._windows.current(who)
        start = window.index * self._windows.seconds
        return Ledger(window.members, len(window.members), limit, start)

    async def commit(self, who: Who, ledger: Ledger) -> bool:
        if not ledger.exceeded:
            return False
        window = self._windows.current(who)
        alert, window.alerted = not window.alerted, True
        return alert

    async def aclose(self) -> None:
        return None


class LocalLookups:
    def __init__(
        self, seconds: float, clock: Callable[[], float] = time.time, maxsize: int = 50_000
    ) -> None:
        self._windows = _LocalWindows(seconds, clock, maxsize)

    async def take(self, who: Who, keys: int, limit: int) -> Taken:
        window = self._windows.current(who)
        if window.count + keys > limit:
            alert, window.alerted = not window.alerted, True
            return Taken(False, self._windows.left(), alert)
        window.count += keys
        return Taken(True, 0.0, False)

    async def aclose(self) -> None:
        return None


def _key(kind: str, who: Who, index: int) -> str:
    digest = hashlib.sha256(f"{who[0]}\0{who[1]}".encode()).hexdigest()[:32]
    return f"switchboard:{kind}:{digest}:{index}"


# KEYS[1] the window's set. ARGV limit. The members only once half the budget is used: below
# that no request can be refused, so whether a customer is already counted does not matter.
_OPEN_SCRIPT = """
local used = redis.call('SCARD', KEYS[1])
if used * 2 >= tonumber(ARGV[1]) then return {used, redis.call('SMEMBERS', KEYS[1])} end
return {used, {}}
"""

# KEYS[1] counter, KEYS[2] alert flag; ARGV keys, limit, ttl. Refused keys are not counted.
_TAKE_SCRIPT = """
local n, limit, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used + n > limit then
  if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ttl) then return {0, 1} end
  return {0, 0}
end
redis.call('INCRBY', KEYS[1], n)
redis.call('EXPIRE', KEYS[1], ttl)
return {1, 0}
"""


class _Redis:
    def __init__(self, url: str, seconds: float, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis_client(url)  # waits for a connection: gateway/redis_client.py
        self.seconds = seconds
        self.clock = clock
        self.ttl = int(seconds) + 60

    def index(self) -> int:
        return int(self.clock() // self.seconds)

    def left(self) -> float:
        return self.seconds - self.clock() % self.seconds

    async def aclose(self) -> None:
        await self.redis.aclose()


class RedisDataBudget(_Redis):
    """Shared by every replica. A request reads its subject's count when it starts and adds
    the customers it counted when it ends, so concurrent requests of one subject may together
    pass the budget by what each saw left (bounded by the rate limit)."""

    def __init__(self, url: str, seconds: float, clock: Callable[[], float] = time.time) -> None:
        super().__init__(url, seconds, clock)
        self._open = self.redis.register_script(_OPEN_SCRIPT)

    async def open(self, who: Who, limit: int) -> Ledger:
        index = self.index()
        used, members = await self._open(keys=[_key("db", who, index)], args=[limit])
        return Ledger({m.decode() for m in members}, int(used), limit, index * self.seconds)

    async def commit(self, who: Who, ledger: Ledger) -> bool:
        index = self.index()
        if ledger.added:
            key = _key("db", who, index)
            await self.redis.sadd(key, *ledger.added)
            await self.redis.expire(key, self.ttl)
        if not ledger.exceeded:
            return False
        first = await self.redis.set(_key("dba", who, index), "1", nx=True, ex=self.ttl)
        return bool(first)


class RedisLookups(_Redis):
    def __init__(self, url: str, seconds: float, clock: Callable[[], float] = time.time) -> None:
        super().__init__(url, seconds, clock)
        self._take = self.redis.register_script(_TAKE_SCRIPT)

    async def take(self, who: Who, keys: int, limit: int) -> Taken:
        index = self.index()
        allowed, alert = await self._take(
            keys=[_key("lk", who, index), _key("lka", who, index)], args=[keys, limit, self.ttl]
        )
        return Taken(bool(allowed), 0.0 if allowed else self.left(), bool(alert))


def budgets_for(
    budget: DataBudgetSettings, lookups: LookupSettings, redis_url: str
) -> tuple[DataBudget | None, Lookups | None]:
    data: DataBudget | None = None
    found: Lookups | None = None
    if budget.enabled:
        seconds = budget.window_seconds
        data = RedisDataBudget(redis_url, seconds) if redis_url else LocalDataBudget(seconds)
    if lookups.enabled:
        seconds = lookups.window_seconds
        found = RedisLookups(redis_url, seconds) if redis_url else LocalLookups(seconds)
    return data, found
