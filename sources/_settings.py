"""How to reach, and how to protect, one back-end system."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CLIENTS", "REFERENCE_DATA", "SourceSettings"]

REFERENCE_DATA = frozenset({"knowledge"})
"""Systems whose answers may be served stale when they fail. Customer data never is."""

CLIENTS = ("aiohttp", "httpx", "wire")
"""The HTTP clients a system can be reached with (`sources.transport.exchange`)."""


@dataclass(frozen=True, slots=True)
class SourceSettings:
    name: str
    base_url: str
    timeout: float = 2.0
    """Seconds one attempt may take at most (the request's deadline may cut it shorter)."""
    connect_timeout: float = 1.0
    max_connections: int = 64
    max_keepalive: int = 32
    max_batch: int = 200
    """Ids per call: the system's documented batch limit."""
    max_body_bytes: int = 8 * 1024 * 1024
    retries: int = 2
    """Extra attempts for a read that failed transiently (connection, 502/503/504, 429, timeout)."""
    retry_base_delay: float = 0.05
    retry_max_delay: float = 1.0
    retry_budget_ratio: float = 0.2
    """Retries may add at most this share of calls."""
    breaker_window: int = 20
    breaker_min_calls: int = 10
    breaker_failure_ratio: float = 0.5
    breaker_open_seconds: float = 5.0
    max_in_flight: int = 32
    max_queue: int = 64
    stale_if_error_seconds: float = 0.0
    """Reference data only: how old a cached answer may be to stand in for a failed call."""
    health_path: str = "openapi.json"
    """What readiness GETs (relative to base_url; 2xx: the API answers). Never retried, never
    counted by the circuit breaker."""
    client: str = "wire"
    """The HTTP client for real sockets: "wire" (the lean one, sources/transport/wire.py: the
    default, 2-3x less CPU per call), "aiohttp" or "httpx" (the bench's comparisons, and
    fallbacks)."""

    def __post_init__(self) -> None:
        where = f"source {self.name!r}"
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"{where}: base_url must be an http(s) URL")
        if "://" in self.health_path or self.health_path.startswith("//"):
            raise ValueError(f"{where}: health_path must be a path relative to base_url")
        if self.client not in CLIENTS:
            raise ValueError(f"{where}: client must be one of {', '.join(CLIENTS)}")
        if self.max_batch < 1:
            raise ValueError(f"{where}: max_batch must be >= 1")
        if not (self.timeout > 0 and self.connect_timeout > 0):
            raise ValueError(f"{where}: timeouts must be > 0")
        if self.retries < 0 or not 0 <= self.retry_budget_ratio <= 1:
            raise ValueError(f"{where}: retries must be >= 0 and retry_budget_ratio in [0, 1]")
        if not 0 < self.breaker_failure_ratio <= 1 or self.breaker_min_calls < 1:
            raise ValueError(f"{where}: breaker_failure_ratio in (0, 1], breaker_min_calls >= 1")
        if self.max_in_flight < 1 or self.max_queue < 0:
            raise ValueError(f"{where}: max_in_flight >= 1 and max_queue >= 0")
        if self.max_in_flight > self.max_connections:
            raise ValueError(f"{where}: max_in_flight may not exceed max_connections")
        if self.stale_if_error_seconds and self.name not in REFERENCE_DATA:
            raise ValueError(
                f"{where}: stale_if_error only for reference data, never customer data"
            )
