"""`[webhooks.<system>]` in the configuration (gateway/events/settings.py via gateway/config.py)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import ConfigError, build_config, env_names
from gateway.demo import demo_config
from tests.events.payloads import OTHER_SECRET, SECRET


def _raw(webhooks: Any) -> dict[str, Any]:
    raw = demo_config(0, 9)
    raw["webhooks"] = webhooks
    return raw


def test_secrets_and_cap_are_read_per_system() -> None:
    config = build_config(_raw({"crm": {"secrets": [SECRET], "max_body_bytes": 1000}}), env={})
    assert config.webhooks["crm"].secrets == (SECRET,)
    assert config.webhooks["crm"].max_body_bytes == 1000
    assert config.webhooks["ccaas"].secrets == ()  # no secrets: no endpoint
    assert SECRET not in repr(config.webhooks["crm"])


def test_an_unknown_system_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown webhook system.*knowledge"):
        build_config(_raw({"knowledge": {"secrets": [SECRET]}}), env={})


@pytest.mark.parametrize("secret", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_%%%%"])
def test_a_malformed_secret_stops_the_load_without_being_repeated(secret: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config(_raw({"core": {"secrets": [SECRET, secret]}}), env={})
    message = str(caught.value)
    assert "[webhooks.core] secrets[1]" in message and "whsec_" in message
    assert secret.removeprefix("whsec_") not in message


def test_secrets_come_from_the_environment() -> None:
    env = {"SWITCHBOARD_WEBHOOKS_CORE_SECRETS": f"{SECRET},{OTHER_SECRET}"}
    assert "SWITCHBOARD_WEBHOOKS_CORE_SECRETS" in env_names()
    config = build_config(_raw({}), env=env)
    assert config.webhooks["core"].secrets == (SECRET, OTHER_SECRET)


def test_the_cap_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="max_body_bytes"):
        build_config(_raw({"core": {"max_body_bytes": 0}}), env={})
