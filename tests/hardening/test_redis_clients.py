"""The replica's Redis clients (gateway/redis_client.py) on a real redis-server: more commands at
once than a client has connections wait for one instead of failing (redis-py's default pool
raised MaxConnectionsError past 100), and a Redis that keeps every connection busy past the wait
fails the request as an unreachable Redis does, never hangs it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import httpx
import orjson
import pytest
import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.auth.authenticator import Principal
from gateway.events.redis_broker import STREAM, RedisStreamsBroker
from gateway.http.middleware import ErrorEnvelope, RateLimit, RequestId
from gateway.limits.budget import RedisDataBudget, RedisLookups
from gateway.limits.ratelimit import RateLimitSettings, RedisLimiter, Rule
from gateway.redis_client import MAX_CONNECTIONS, redis_client
from schema import Owner
from tests.events.test_broker import event
from tests.support.redis import redis_server

ISS = "https://idp.test/realms/cc"
BURST = MAX_CONNECTIONS + 50
"""More commands at once than a client has connections: one replica's share of a busy hour."""


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture
async def probe(redis_url: str) -> AsyncIterator[redis.Redis]:
    """The test's own client, on a database flushed for the test."""
    client = redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@contextlib.asynccontextmanager
async def writes_held(probe: redis.Redis) -> AsyncIterator[None]:
    """Redis holds every write (scripts included) until the block ends: commands keep their
    connections meanwhile, as on a Redis too busy to answer (CLIENT PAUSE WRITE)."""
    await probe.client_pause(30_000, all=False)
    try:
        yield
    finally:
        await probe.client_unpause()


def clock() -> float:
    return 1_000_000.0  # one window throughout


async def test_a_burst_of_rate_limit_checks_waits_for_connections(redis_url: str) -> None:
    """One script call per request in the `RateLimit` middleware: with more requests in flight
    on a replica than connections, the rest failed with a 500."""
    limiter = RedisLimiter(redis_url)
    rule = Rule(rate=0.001, burst=5)
    try:
        waits = await asyncio.gather(
            *(limiter.acquire(ISS, f"agent-{n}", rule) for n in range(BURST))
        )
        assert waits == [None] * BURST
        # the buckets are the ones counted: each agent has its burst less one left
        assert [await limiter.acquire(ISS, "agent-0", rule) for _ in range(5)][-1] is not None
    finally:
        await limiter.aclose()


async def test_a_burst_of_data_budget_requests_waits_for_connections(redis_url: str) -> None:
    """The data budget is opened before and committed after every operation: a burst of them
    all answer, and every customer a request counted is counted."""
    budget = RedisDataBudget(redis_url, 3600, clock)
    who = (ISS, "ivr-service")
    limit = 20_000

    async def request(n: int) -> bool:
        ledger = await budget.open(who, limit)
        assert ledger.admit(Owner(customer_id=f"c{n}", profile_id=None))
        return await budget.commit(who, ledger)

    try:
        assert await asyncio.gather(*(request(n) for n in range(BURST))) == [False] * BURST
        assert (await budget.open(who, limit)).used == BURST
    finally:
        await budget.aclose()


async def test_a_burst_of_lookups_waits_for_connections(redis_url: str) -> None:
    lookups = RedisLookups(redis_url, 3600, clock)
    who = (ISS, "ivr-lookups")
    try:
        taken = await asyncio.gather(*(lookups.take(who, 1, 20_000) for _ in range(BURST)))
        assert all(t.allowed for t in taken)
        assert not (await lookups.take(who, 1, BURST)).allowed  # each one was counted
    finally:
        await lookups.aclose()


async def test_a_burst_of_published_events_waits_for_connections(
    redis_url: str, probe: redis.Redis
) -> None:
    """A vendor's webhooks arriving together on one replica: each event is published (a failed
    publish is a 500, and the vendor sends it again)."""
    broker = RedisStreamsBroker(redis_url, block_ms=200)
    try:
        cursors = await asyncio.gather(*(broker.publish(event(n)) for n in range(BURST)))
        assert None not in cursors and len(set(cursors)) == BURST
        assert await probe.xlen(STREAM) == BURST
    finally:
        await broker.aclose()


def _as(principal: Principal, app: ASGIApp) -> ASGIApp:
    """`BearerAuth` as far as `RateLimit` sees it: the request's principal in its state."""

    async def authenticated(scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})["principal"] = principal
        await app(scope, receive, send)

    return authenticated


async def _answered(scope: Scope, receive: Receive, send: Send) -> None:
    body = b'{"data":{}}'
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def test_a_request_waiting_past_the_bound_for_a_connection_fails_closed(
    redis_url: str, probe: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every connection busy (here: Redis holds its writes) for longer than the bounded wait:
    the requests that found none fail with the gateway's 500 INTERNAL, as they do when Redis
    is unreachable (closed: no request passes an unchecked rate limit), instead of hanging.
    The ones holding a connection answer once Redis does."""
    monkeypatch.setattr("gateway.redis_client.MAX_CONNECTIONS", 2)
    monkeypatch.setattr("gateway.redis_client.CONNECTION_WAIT_SECONDS", 0.05)
    limiter = RedisLimiter(redis_url)
    principal = Principal("agent-1", frozenset({"agent"}), ISS, expires_at=2e9)
    stack = RequestId(
        ErrorEnvelope(_as(principal, RateLimit(_answered, limiter, RateLimitSettings())))
    )
    transport = httpx.ASGITransport(app=stack)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            async with writes_held(probe):
                requests = [asyncio.create_task(http.post("/graphql", json={})) for _ in range(5)]
                async with asyncio.timeout(20):  # a guard against the hang, not an assertion
                    finished = asyncio.as_completed(requests)
                    failed = [await next(finished) for _ in range(3)]
            answered = await asyncio.gather(*requests)
    finally:
        await limiter.aclose()
    assert [r.status_code for r in failed] == [500] * 3
    assert {orjson.loads(r.content)["errors"][0]["extensions"]["code"] for r in failed} == {
        "INTERNAL"
    }
    assert sorted(r.status_code for r in answered) == [200, 200, 500, 500, 500]


async def test_a_data_budget_without_a_connection_after_the_wait_fails_as_if_unreachable(
    redis_url: str, probe: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operation fails (closed) when its budget cannot be read, as with Redis down."""
    monkeypatch.setattr("gateway.redis_client.MAX_CONNECTIONS", 1)
    monkeypatch.setattr("gateway.redis_client.CONNECTION_WAIT_SECONDS", 0.05)
    budget = RedisDataBudget(redis_url, 3600, clock)
    who = (ISS, "agent-2")
    async with writes_held(probe):
        opens = [asyncio.create_task(budget.open(who, 60)) for _ in range(3)]
        async with asyncio.timeout(20):  # a guard against the hang, not an assertion
            finished = asyncio.as_completed(opens)
            for _ in range(2):  # the two that found no connection
                with pytest.raises(RedisConnectionError, match="No connection available"):
                    await next(finished)
    try:
        done = await asyncio.gather(*opens, return_exceptions=True)
        assert [d.used for d in done if not isinstance(d, BaseException)] == [0]  # the holder
    finally:
        await budget.aclose()


async def test_the_url_may_size_the_pool_and_its_wait() -> None:
    """`?max_connections=` and `?timeout=` in the URL win over the defaults (redis-py's
    `from_url`), so an operator can change both without a release. No connection is made."""
    client = redis_client("redis://127.0.0.1:1/0?max_connections=7&timeout=0.5")
    pool = client.connection_pool
    assert (pool.max_connections, getattr(pool, "timeout", None)) == (7, 0.5)
    await client.aclose()


async def test_a_redis_that_never_answers_fails_the_command_instead_of_holding_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Redis that accepts the connection and never replies (a stuck server, a black-holing
    proxy): the command fails with redis-py's TimeoutError after the client's socket timeout,
    which every caller handles as an unreachable Redis, whatever redis-py's own default is
    (none before redis-py 8)."""
    from redis.exceptions import TimeoutError as RedisTimeoutError

    import gateway.redis_client as module

    held: list[asyncio.StreamWriter] = []

    def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # kept open, never written to

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setattr(module, "SOCKET_TIMEOUT_SECONDS", 0.2)
    client = module.redis_client(f"redis://127.0.0.1:{port}/0")
    try:
        with pytest.raises(RedisTimeoutError):
            # the guard (not a timing assertion): redis-py's own default, 5 s, outlasts it
            await asyncio.wait_for(client.ping(), 3)
    finally:
        await client.aclose()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
