"""The asyncio Redis clients a replica keeps (the rate limit, the data budget and lookup windows,
the events broker, the writes outbox), each made here, one way.

Why not `redis.asyncio.from_url`: its `ConnectionPool` holds at most 100 connections and RAISES
`MaxConnectionsError` when a 101st command needs one, so with more than 100 requests in flight on
one replica the rest failed (a 500 from the rate limit, a refused write). A
`BlockingConnectionPool` of the same size makes such a command wait for a connection, up to
`CONNECTION_WAIT_SECONDS`; past that it raises redis-py's `ConnectionError` ("No connection
available."), which each caller handles as it handles an unreachable Redis. `max_connections`
and `timeout` in the URL's query (`redis://redis:6379/0?max_connections=200&timeout=2`) win over
these defaults, as redis-py's `from_url` lets them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["CONNECTION_WAIT_SECONDS", "MAX_CONNECTIONS", "SOCKET_TIMEOUT_SECONDS", "redis_client"]

MAX_CONNECTIONS = 100
"""Connections per client (redis-py's default): the most commands one client has in flight."""
CONNECTION_WAIT_SECONDS = 5.0
"""How long a command waits for a free connection before it fails (a bounded wait, no hang)."""
SOCKET_TIMEOUT_SECONDS = 5.0
"""How long a command waits for Redis's reply, and a connection for Redis to accept it, before
it fails (redis-py's `TimeoutError`, handled as an unreachable Redis): a Redis that accepts
connections and never answers cannot hold a request. redis-py 8 defaults to 5 s; earlier
versions, which pyproject allows, wait forever. Above the events reader's blocking read (1 s)."""


def redis_client(url: str, *, decode_responses: bool = False) -> Redis:
    """A client of its own (closing it closes its pool) whose commands wait for a connection
    when all are in use, instead of failing."""
    import redis.asyncio as redis  # only when configured: redis is an optional extra

    pool = redis.BlockingConnectionPool.from_url(
        url,
        decode_responses=decode_responses,
        max_connections=MAX_CONNECTIONS,
        timeout=CONNECTION_WAIT_SECONDS,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
    )
    return redis.Redis.from_pool(pool)
