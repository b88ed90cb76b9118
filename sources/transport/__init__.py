"""The way to a system, in layers: `policy` (stale-if-error, retries, breaker, bulkhead, the
request's deadline) around one `exchange` (the only module that speaks HTTP), with the
breaker, bulkhead and retry budget in `resilience`."""

from __future__ import annotations

from .exchange import (
    Exchange,
    ExchangeFactory,
    HttpClient,
    HttpxExchange,
    Params,
    open_exchange,
    probe,
)
from .mock import MockExchange, Reply, Request
from .observe import CALL_STATUSES, Call, CallObserver
from .policy import Transport

__all__ = [
    "CALL_STATUSES",
    "Call",
    "CallObserver",
    "Exchange",
    "ExchangeFactory",
    "HttpClient",
    "HttpxExchange",
    "MockExchange",
    "Params",
    "Reply",
    "Request",
    "Transport",
    "open_exchange",
    "probe",
]
