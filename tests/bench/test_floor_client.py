"""The floor is measured with the HTTP client the bench names (`--clients`), as the gateway is:
otherwise its per-client figures would all be the default client's."""

from __future__ import annotations

from typing import Any

import pytest

from bench.floor import create_floor, floor_config
from bench.seam import client_env
from sources import SYSTEMS, Sources


@pytest.mark.parametrize("client", ["aiohttp", "wire"])
def test_the_floor_reaches_the_systems_with_the_benched_client(
    client: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in client_env(client).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SWITCHBOARD_SOURCES_CORE_TIMEOUT", "99")  # nothing else is read
    opened: dict[str, Any] = {}
    real_open = Sources.open
    monkeypatch.setattr(
        Sources, "open", lambda settings: opened.update(settings) or real_open(settings)
    )
    create_floor(floor_config("http://127.0.0.1:9"))
    assert {name: opened[name].client for name in SYSTEMS} == dict.fromkeys(SYSTEMS, client)
    assert opened["core"].timeout != 99
