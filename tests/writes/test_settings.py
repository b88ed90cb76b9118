"""`[writes]`: validated, overridable from the environment, named in one-line errors."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import ConfigError, build_config, env_names
from gateway.demo import demo_config


def _raw(**writes: Any) -> dict[str, Any]:
    raw = demo_config(8000, 8001)
    raw["writes"] = writes
    return raw


def test_defaults_and_environment_overrides() -> None:
    config = build_config(demo_config(8000, 8001), env={})
    assert config.writes.deadline_ms == 2000 and config.writes.retention_hours == 24
    assert config.writes.outbox_path.endswith("outbox.sqlite3")  # the demo's temp folder
    env = {"SWITCHBOARD_WRITES_DEADLINE_MS": "500", "SWITCHBOARD_WRITES_MAX_ATTEMPTS": "3"}
    overridden = build_config(_raw(), env=env).writes
    assert (overridden.deadline_ms, overridden.max_attempts) == (500, 3)
    assert "SWITCHBOARD_WRITES_CLAIM_IDLE_SECONDS" in env_names()


@pytest.mark.parametrize(
    ("writes", "message"),
    [
        ({"deadline_ms": 5}, "deadline_ms"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_age_seconds": 200_000}, "max_age_seconds"),
        ({"claim_idle_seconds": 1.0}, "claim_idle_seconds"),
        ({"backoff_base_seconds": 5.0, "backoff_max_seconds": 1.0}, "backoff_base_seconds"),
        ({"disposition_codes": ["A", "A"]}, "disposition_codes"),
        ({"deadline_ms": "fast"}, "writes.deadline_ms"),
        ({"outbox": "x"}, "unknown key"),
    ],
)
def test_bad_values_stop_start_up_naming_the_key(writes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config(_raw(**writes), env={})
