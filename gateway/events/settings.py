"""`[webhooks.<system>]`: who may post events in, and how much.

    [webhooks.ccaas]
    secrets = ["whsec_..."]          # SWITCHBOARD_WEBHOOKS_CCAAS_SECRETS (comma list / JSON)
    max_body_bytes = 262144

A system with no secrets has no endpoint (404). Secrets are checked when the configuration is
loaded, so a mistyped one stops the gateway at start rather than refusing every delivery.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.events.mapping import SYSTEMS
from gateway.events.signatures import parse_secret
from gateway.settings_env import ConfigError, read_section

__all__ = ["EventSettings", "WebhookSettings", "read_webhooks"]


@dataclass(frozen=True, slots=True)
class EventSettings:
    """`[events]`: where published events go. Empty `redis_url`: the in-process broker (one
    replica); set: Redis Streams, shared by every replica (gateway/events/redis_broker.py)."""

    redis_url: str = field(default="", repr=False)  # may carry a password
    window: int = 10_000
    """Events kept for replay from a cursor (`XADD MAXLEN ~ window`)."""
    export_maxlen: int = 100_000
    """Entries kept in the analytics export stream (docs/events-export.md)."""
    max_streams_per_subject: int = 10
    """Subscriptions one caller (issuer, subject) may hold open on a replica, WebSocket and
    SSE together (gateway/events/caps.py); more: SUBSCRIPTION_LIMIT."""
    keepalive_seconds: float = 15.0
    """A comment line on an idle SSE stream this often, so proxies do not cut it."""

    def __post_init__(self) -> None:
        if self.window < 1 or self.export_maxlen < 1:
            raise ValueError("window and export_maxlen must be at least 1")
        if self.max_streams_per_subject < 1:
            raise ValueError("max_streams_per_subject must be at least 1")
        if not 0.1 <= self.keepalive_seconds <= 300:
            raise ValueError("keepalive_seconds must be between 0.1 and 300")
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("redis_url must be a redis://, rediss:// or unix:// URL")


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    secrets: tuple[str, ...] = field(default=(), repr=False)  # never in a traceback or log
    """Standard Webhooks secrets, `whsec_<base64>`; more than one while a secret is rotated."""
    max_body_bytes: int = 256 * 1024

    def __post_init__(self) -> None:
        for i, secret in enumerate(self.secrets):
            try:
                parse_secret(secret)
            except ValueError as exc:
                raise ValueError(f"secrets[{i}]: {exc}") from None
        if self.max_body_bytes < 1:
            raise ValueError("max_body_bytes must be at least 1")


def read_webhooks(table: Any, env: Mapping[str, str]) -> dict[str, WebhookSettings]:
    if not isinstance(table, Mapping):
        raise ConfigError("[webhooks] must be a table")
    unknown = set(table) - set(SYSTEMS)
    if unknown:
        raise ConfigError(
            f"unknown webhook system(s): {', '.join(sorted(unknown))} (known: {', '.join(SYSTEMS)})"
        )
    return {
        name: read_section(WebhookSettings, f"webhooks.{name}", table.get(name, {}), env)
        for name in SYSTEMS
    }
