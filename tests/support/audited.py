"""A gateway served over a real socket whose audit trail the test reads: the guard's audit log
writes into a list (each line parsed, oldest first) instead of stdout. The integration,
routing and write-back suites build their gateways with it, each on its own config.

With `watched`, every audit line is searched for the PII canary first (tests/support/canary.py):
the trail says who read what, never the value. Only for a gateway in front of a canary sandbox,
in a suite that runs the canary's fixtures (they report what the watch finds)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette

from gateway.app import create_app
from gateway.config import Config
from gateway.masking.guard import Guard
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from gateway.observability.audit import AuditLog
from gateway.writes import OnSettled, Writes
from sources.sandbox.server import background_server
from tests.support.canary import WATCH

__all__ = ["HASH_KEY", "AuditedGateway", "audited_gateway"]

HASH_KEY = b"test-only-hash-key"
"""The masker's key: tests that compare hashed values make their own Masker with it."""


@dataclass(frozen=True)
class AuditedGateway:
    app: Starlette
    url: str
    audit: list[dict[str, Any]]
    """Audit events the gateway wrote, oldest first (tests may clear it)."""


@contextmanager
def audited_gateway(
    config: Config,
    *,
    watched: bool = False,
    writes: Callable[[OnSettled], Writes] | None = None,
    websockets: bool = False,
) -> Iterator[AuditedGateway]:
    """`create_app(config)` with the shipped policy, HASH_KEY and an in-memory audit trail,
    served (lifespan on) on a free 127.0.0.1 port for the block. `writes` is `create_app`'s
    (a write service double); `websockets` serves subscriptions too."""
    audit: list[dict[str, Any]] = []

    def sink(lines: bytes) -> None:
        if watched:
            WATCH.check("audit", lines.decode().splitlines())
        audit.extend(json.loads(line) for line in lines.splitlines())

    guard = Guard(Policy.load(), Masker(HASH_KEY), AuditLog(sink))
    app = create_app(config, guard=guard, writes=writes)
    with background_server(app, lifespan="on", websockets=websockets) as url:
        yield AuditedGateway(app, url, audit)
