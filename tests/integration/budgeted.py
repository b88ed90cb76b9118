"""A gateway of its own for the per-subject budgets (data budget, lookups) and the audit queue:
the session's gateway runs without them, so that other tests may read as much as they like."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from gateway.app import create_app
from gateway.config import build_config
from gateway.demo import demo_config
from gateway.limits.budget import budgets_for
from gateway.masking.guard import Guard
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from gateway.observability.audit import AuditLog
from sources.sandbox.server import background_server

from .conftest import HASH_KEY, Gateway

PARTNER = "https://partner.example.com/idp"
"""A second trusted issuer (the sandbox IdP signs its tokens too, with `iss` overridden)."""


@contextmanager
def own_gateway(
    sandbox_url: str,
    limits: dict[str, Any],
    *,
    execution: str = "compiled",
    sink: Callable[[bytes], None] | None = None,
    max_pending: int = 1024,
) -> Iterator[Gateway]:
    """A gateway with `limits` (e.g. {"data_budget": {...}}) over the session's sandbox; its
    audit lines are collected in `Gateway.audit` unless `sink` takes them."""
    raw = demo_config(0, int(sandbox_url.rsplit(":", 1)[1]), execution)
    for source in raw["sources"].values():
        source["breaker_min_calls"] = 10_000
    raw["trusted_documents"] = {"roles": []}
    raw["rate_limit"] = {"enabled": False}
    raw["limits"] = limits
    raw["auth"]["issuers"] = [
        {
            "issuer": PARTNER,
            "audience": "switchboard",
            "jwks_url": raw["auth"]["jwks_url"],
            "roles": ["*"],
        }
    ]
    config = build_config(raw, env={})
    audit: list[dict[str, Any]] = []

    def collect(lines: bytes) -> None:
        audit.extend(json.loads(line) for line in lines.splitlines())

    budget, lookups = budgets_for(config.data_budget, config.lookups, "")
    log = AuditLog(sink or collect, max_pending)
    guard = Guard(Policy.load(), Masker(HASH_KEY), log, budget, lookups, config)
    with background_server(create_app(config, guard=guard), lifespan="on") as url:
        yield Gateway(url=url, sandbox=sandbox_url, token="", audit=audit, admin="")
