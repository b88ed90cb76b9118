"""The seam as a Protocol: production picks its client from settings, and the test double
(`MockExchange`) is itself an exchange held to the same rules as the real clients."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from sources import (
    SYSTEMS,
    MockExchange,
    SourceBadResponse,
    SourceRateLimited,
    Sources,
    SourceSettings,
    SourceTimeout,
    SourceUnavailable,
    Transport,
)
from sources.transport import Reply, Request
from sources.transport.mock import MockHandler

BASE = "http://core.internal.example:9000/core"
ROOT = Path(__file__).resolve().parents[2]


def transport(handler: MockHandler, **settings: Any) -> Transport:
    return Transport(
        SourceSettings(name="core", base_url=BASE, retries=0, **settings),
        exchange=MockExchange.serving(handler),
    )


async def test_the_double_answers_what_the_handler_says() -> None:
    asked: list[Request] = []

    def handler(request: Request) -> Reply:
        asked.append(request)
        return Reply.json({"ids": request.param("id")})

    t = transport(handler)
    assert t.http.client == "mock"
    assert await t.get_json("/x", [("id", "1"), ("id", "2")]) == {"ids": ["1", "2"]}
    assert asked == [Request("core", "/x", (("id", "1"), ("id", "2")))]
    await t.aclose()


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(429, headers={"retry-after": "7"}), SourceRateLimited),
        (Reply(503, b"Traceback db01.internal"), SourceUnavailable),
        (Reply(404), SourceBadResponse),
        (Reply(200, b"x" * 2048), SourceBadResponse),
        (Reply(200, b'{"Data": [tru'), SourceBadResponse),
        (ConnectionRefusedError("10.0.0.7:9000"), SourceUnavailable),
        (TimeoutError(), SourceTimeout),
    ],
)
async def test_the_double_is_held_to_the_real_clients_rules(
    reply: Reply | Exception, error: type[Exception]
) -> None:
    """Status mapping, body cap and unreachable systems, typed and naming no URL or body."""

    async def handler(request: Request) -> Reply:
        await asyncio.sleep(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    t = transport(handler, max_body_bytes=1024)
    with pytest.raises(error) as caught:
        await t.get_json("/x")
    assert "internal" not in str(caught.value) and "10.0.0.7" not in str(caught.value)
    if isinstance(caught.value, SourceRateLimited):
        assert caught.value.retry_after == 7.0
    await t.aclose()


async def test_every_system_gets_its_own_exchange_from_the_factory() -> None:
    seen: list[str] = []

    def handler(request: Request) -> Reply:
        seen.append(request.system)
        return Reply.json({"results": []})

    settings = {n: SourceSettings(name=n, base_url=f"http://sandbox/{n}") for n in SYSTEMS}
    sources = Sources.open(settings, exchange=MockExchange.serving(handler))
    assert {t.http.client for t in sources.transports().values()} == {"mock"}
    await sources.knowledge.transport.get_json("/search", [("q", "x")])
    assert seen == ["knowledge"]
    await sources.aclose()


def test_production_picks_the_client_from_settings() -> None:
    for client in ("aiohttp", "httpx", "wire"):
        t = Transport(SourceSettings(name="core", base_url=BASE, client=client))
        assert t.http.client == client
    with pytest.raises(ValueError, match="source 'core': client must be one of aiohttp, httpx"):
        SourceSettings(name="core", base_url=BASE, client="curl")


def test_only_config_reads_the_environment() -> None:
    """Settings come from one place (gateway/config.py validates them): no module of the
    service reads an environment variable behind its back."""
    readers = sorted(
        str(path.relative_to(ROOT))
        for folder in ("gateway", "schema", "resolvers", "sources")
        for path in (ROOT / folder).rglob("*.py")
        if re.search(r"\bos\.environ\b|\bos\.getenv\b|\bgetenv\(", path.read_text())
    )
    assert readers == ["gateway/config.py"]


def test_the_list_of_systems_is_spelled_once() -> None:
    """`sources.SYSTEMS` is the list of the data systems: config, the CLI, the bench and the
    test fixtures import it, so a fifth system is added in one place."""
    needle = "(" + ", ".join(f'"{name}"' for name in SYSTEMS) + ")"
    spelled = sorted(
        str(path.relative_to(ROOT))
        for folder in ("gateway", "schema", "resolvers", "sources", "bench", "tests")
        for path in (ROOT / folder).rglob("*.py")
        if needle in path.read_text()
    )
    assert spelled == ["sources/__init__.py"]
