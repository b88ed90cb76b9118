"""Real sockets on 127.0.0.1: the sandbox systems and the gateway, each on its own server, for
the whole integration session. Tests that inject faults restore them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import build_config
from gateway.demo import demo_config
from gateway.http.admin import admin_app_of
from sources import SYSTEMS
from sources.sandbox.client import mint_token, reset_stats, sample_customers, stats
from sources.sandbox.server import background_server
from tests.support.audited import HASH_KEY, audited_gateway
from tests.support.canary import WATCH, canary_check, canary_sandbox, canary_session

# the canary's fixtures run for every test; HASH_KEY is for tests that compare hashed values
__all__ = ["HASH_KEY", "Gateway", "canary_check", "canary_session"]

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Gateway:
    url: str
    sandbox: str
    token: str
    admin: str
    """The internal port's URL: /ready and /metrics."""
    audit: list[dict[str, Any]]
    """Audit events the gateway wrote, oldest first (tests may clear it)."""

    async def post(
        self,
        payload: dict[str, Any],
        *,
        token: str | bool | None = True,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if token is True:
            all_headers["authorization"] = f"Bearer {self.token}"
        elif isinstance(token, str):
            all_headers["authorization"] = f"Bearer {token}"
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as http:
            return await http.post("/graphql", json=payload, headers=all_headers)

    async def query(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        response = await self.post(
            {"query": query, "variables": variables or {}}, token=token or True, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def reset(self) -> None:
        await reset_stats(self.sandbox)

    async def calls(self) -> dict[str, int]:
        """Back-end calls since the last reset, as {"core GET /accounts": n}; zeros left out."""
        counters = await stats(self.sandbox)
        return {
            f"{system} {route}": n
            for system in SYSTEMS
            for route, n in counters[system]["by_route"].items()
            if n
        }


@pytest.fixture(scope="session")
def sandbox_url() -> Iterator[str]:
    with canary_sandbox(seed=7, customers=2_000) as url:
        yield url


@pytest.fixture(scope="session")
def gateway(sandbox_url: str) -> Iterator[Gateway]:
    sandbox_port = int(sandbox_url.rsplit(":", 1)[1])
    raw = demo_config(0, sandbox_port)
    for source in raw["sources"].values():
        # tests inject faults one after another: keep one test's failures from opening a
        # circuit for the next (test_resilience.py runs its own gateway for breakers)
        source["breaker_min_calls"] = 10_000
    # masking is tested per role with free-form queries, the ivr role included; trusted
    # documents (which ivr is held to by default) are tested on a gateway of their own
    raw["trusted_documents"] = {"roles": []}
    raw["rate_limit"] = {"enabled": False}
    config = build_config(raw, env={})
    # watched: the audit trail holds no canary either
    with (
        audited_gateway(config, watched=True) as served,
        background_server(admin_app_of(served.app), lifespan="off") as admin,
    ):
        token = asyncio.run(mint_token(sandbox_url, sub="analyst-0001", roles=["fraud_analyst"]))
        yield Gateway(
            url=served.url, sandbox=sandbox_url, token=token, audit=served.audit, admin=admin
        )
        # the scrape Prometheus makes, after every integration test has run
        WATCH.check("/metrics", httpx.get(f"{admin}/metrics").text.splitlines())


@pytest.fixture(scope="session")
def sample(sandbox_url: str) -> list[dict[str, Any]]:
    return asyncio.run(sample_customers(sandbox_url, 200))
