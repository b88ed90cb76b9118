"""Each argument cap is written once (schema/limits.py): the gateway's limits and the schema's
descriptions read it, so changing it changes every place that states it."""

from __future__ import annotations

from gateway.limits.shape import LimitSettings
from schema import build_schema
from schema.limits import ARTICLES_MAX_FIRST, INTERACTIONS_MAX_FIRST, MAX_FIRST, MAX_IDS


def test_the_gateway_limits_default_to_the_schema_caps() -> None:
    limits = LimitSettings()
    assert (limits.max_first, limits.max_ids) == (MAX_FIRST, MAX_IDS)


def test_the_schema_states_the_caps_it_enforces() -> None:
    sdl = build_schema().as_str()
    assert f"(first: 1-{ARTICLES_MAX_FIRST})" in sdl
    assert f"(first: 1-{INTERACTIONS_MAX_FIRST})" in sdl
    assert f"At most {MAX_IDS} ids." in sdl
