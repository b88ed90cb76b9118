"""Distinct large documents do not grow a production gateway's memory (issue #12, item 8):
~200 KB documents padded with `#` comments, each distinct, 8 at a time, once took a gateway from
69 MB to 1.5 GB RSS and kept it. Documents are capped apart from bodies, and every cache keyed
by document text is bounded by bytes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.limits.shape import PARSED, SHAPES, VALIDATIONS, LimitSettings

from .conftest import Production, root

# A gateway of its own, in a subprocess, so its RSS is its own.
SERVE = """
import sys
from gateway.app import create_app
from gateway.demo import demo_config
from gateway.config import build_config
from sources.sandbox.server import background_server

raw = demo_config(0, int(sys.argv[1]))
raw["server"] = {"profile": "production"}
raw["rate_limit"] = {"enabled": False}
with background_server(create_app(build_config(raw, env={})), lifespan="on") as url:
    print(url, flush=True)
    sys.stdin.read()  # until the test closes our stdin
"""


def padded(i: int, size: int) -> str:
    """A distinct document: long `#` comment lines, then a valid operation."""
    line = "#" + "x" * 999 + "\n"
    return f"# {i}\n" + line * (size // len(line)) + "{ __typename }"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def gateway_process(production: Production) -> Iterator[tuple[int, str]]:
    env = {**os.environ, "PYTHONPATH": str(root())}
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, production.sandbox.rsplit(":", 1)[1]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://"), url
        yield process.pid, url
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


async def send(url: str, token: str, documents: list[str]) -> set[str]:
    """8 at a time; the error codes seen."""
    codes: set[str] = set()
    slots = asyncio.Semaphore(8)
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:

        async def one(text: str) -> None:
            async with slots:
                response = await http.post(
                    "/graphql",
                    json={"query": text},
                    headers={"authorization": f"Bearer {token}"},
                )
            for error in response.json().get("errors", ()):
                codes.add(error["extensions"]["code"])

        await asyncio.gather(*(one(t) for t in documents))
    return codes


async def test_rss_stays_bounded_under_distinct_large_documents(
    gateway_process: tuple[int, str], production: Production
) -> None:
    pid, url = gateway_process
    token = production.tokens["agent"]
    await send(url, token, [padded(-i, 1000) for i in range(1, 50)])  # warm up
    before = rss_kib(pid)
    await production.reset()
    codes = await send(url, token, [padded(i, 200_000) for i in range(1000)])
    assert codes == {"DOCUMENT_TOO_LARGE"}
    under_cap = LimitSettings().max_document_bytes - 2_000
    assert await send(url, token, [padded(i, under_cap) for i in range(400)]) == set()
    assert await production.backend_calls() == 0
    grown_mib = (rss_kib(pid) - before) / 1024
    # 1,400 distinct documents, 225 MB of text: what stays is what the caches may hold
    assert grown_mib < 150, f"RSS grew {grown_mib:.0f} MiB"


async def test_document_caches_stay_within_their_byte_caps(production: Production) -> None:
    await production.reset()
    under_cap = LimitSettings().max_document_bytes - 2_000
    documents = [padded(10_000 + i, under_cap) for i in range(600)]
    assert await send(production.url, production.tokens["agent"], documents) == set()
    assert await production.backend_calls() == 0
    for cache in (PARSED, SHAPES, VALIDATIONS):
        assert cache.bytes <= cache.max_bytes < 600 * under_cap
