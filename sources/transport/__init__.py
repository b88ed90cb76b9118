"""The way to a system, in layers: `policy` (stale-if-error, retries, breaker, bulkhead, the
request's deadline) around one `exchange` (the only module that speaks HTTP), with the
breaker, bulkhead and retry budget in `resilience`."""

from __future__ import annotations

from .exchange import CLIENT_ENV, HttpClient, Params, probe
from .policy import Transport

__all__ = ["CLIENT_ENV", "HttpClient", "Params", "Transport", "probe"]
