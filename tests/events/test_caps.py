"""The per-subject subscription cap (gateway/events/caps.py) and its setting; over real sockets
in tests/events/test_sse.py."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, build_config, env_names
from gateway.demo import demo_config
from gateway.events.caps import SubjectCaps

AGENT = ("https://idp.example", "agent-0001")


def test_a_caller_gets_up_to_the_cap_and_a_released_slot_back() -> None:
    caps = SubjectCaps(2)
    first, second = caps.acquire(AGENT), caps.acquire(AGENT)
    assert first is not None and second is not None
    assert caps.acquire(AGENT) is None
    first.release()
    first.release()  # twice: still one slot given back, not two
    assert caps.held(AGENT) == 1
    third = caps.acquire(AGENT)
    assert third is not None and caps.acquire(AGENT) is None
    second.release()
    third.release()
    assert caps.held(AGENT) == 0 and caps.subjects == 0  # nothing kept for an idle caller


def test_the_cap_is_per_issuer_and_subject() -> None:
    caps = SubjectCaps(1)
    assert caps.acquire(AGENT) is not None
    # a partner IdP minting the same `sub` is another caller, and so is another agent
    assert caps.acquire(("https://partner.example", "agent-0001")) is not None
    assert caps.acquire(("https://idp.example", "agent-0002")) is not None
    assert caps.acquire(AGENT) is None


def test_the_settings_default_and_come_from_the_environment() -> None:
    raw = demo_config(0, 9)
    config = build_config(raw, env={})
    assert config.events.max_streams_per_subject == 10
    assert config.events.keepalive_seconds == 15.0
    assert "SWITCHBOARD_EVENTS_MAX_STREAMS_PER_SUBJECT" in env_names()
    env = {
        "SWITCHBOARD_EVENTS_MAX_STREAMS_PER_SUBJECT": "3",
        "SWITCHBOARD_EVENTS_KEEPALIVE_SECONDS": "5",
    }
    config = build_config(raw, env=env)
    assert (config.events.max_streams_per_subject, config.events.keepalive_seconds) == (3, 5.0)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_streams_per_subject", 0),
        ("max_streams_per_subject", -1),
        ("keepalive_seconds", 0),
        ("keepalive_seconds", 3600),
    ],
)
def test_a_setting_out_of_range_stops_the_load_naming_it(key: str, value: float) -> None:
    raw = demo_config(0, 9)
    raw["events"] = {key: value}
    with pytest.raises(ConfigError, match=key):
        build_config(raw, env={})
