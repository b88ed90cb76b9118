"""Real sockets on 127.0.0.1: the sandbox and a gateway as shipped for contact flows — the
`ivr` role held to the shipped trusted documents (docs/trusted-documents.json), the shipped
routing rules, the default routing deadline — with an audit trail the tests can read."""

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
from sources.sandbox import running
from sources.sandbox.client import mint_token, sample_customers
from tests.support.audited import audited_gateway

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "docs" / "trusted-documents.json"
DEADLINE_MS = 1000


@dataclass(frozen=True)
class Gateway:
    url: str
    sandbox: str
    ivr: str
    """An ivr token: registered operations only."""
    analyst: str
    """A fraud_analyst token: sees every value (to compare against)."""
    audit: list[dict[str, Any]]

    async def graphql(
        self, query: str, variables: dict[str, Any], token: str, **headers: str
    ) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as http:
            response = await http.post(
                "/graphql",
                json={"query": query, "variables": variables},
                headers={"authorization": f"Bearer {token}", **headers},
            )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def flat(self, params: dict[str, str], token: str | None = None) -> httpx.Response:
        headers = {} if token == "" else {"authorization": f"Bearer {token or self.ivr}"}
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as http:
            return await http.get("/routing/v1/context", params=params, headers=headers)


@pytest.fixture(scope="session")
def sandbox_url() -> Iterator[str]:
    with running(seed=7, customers=2_000) as url:
        yield url


@pytest.fixture(scope="session")
def sample(sandbox_url: str) -> list[dict[str, Any]]:
    return asyncio.run(sample_customers(sandbox_url, 200))


def routing_gateway_config(sandbox_url: str, **routing: Any) -> Any:
    raw = demo_config(0, int(sandbox_url.rsplit(":", 1)[1]))
    for source in raw["sources"].values():
        source["breaker_min_calls"] = 10_000  # faults follow one another: no circuit opens
    raw["trusted_documents"] = {"manifest": str(MANIFEST), "roles": ["ivr"]}
    raw["rate_limit"] = {"enabled": False}
    raw["routing"] = routing
    return build_config(raw, env={})


@pytest.fixture(scope="session")
def gateway(sandbox_url: str) -> Iterator[Gateway]:
    # a routing deadline well above this busy machine's scheduling noise, so only the tests
    # that slow a system down see a partial answer (the default, 300 ms, is checked as a
    # setting: tests/routing/test_rules.py)
    config = routing_gateway_config(sandbox_url, deadline_ms=DEADLINE_MS)
    with audited_gateway(config) as served:
        ivr = asyncio.run(mint_token(sandbox_url, sub="ivr-main", roles=["ivr"]))
        analyst = asyncio.run(mint_token(sandbox_url, sub="analyst-0001", roles=["fraud_analyst"]))
        yield Gateway(
            url=served.url, sandbox=sandbox_url, ivr=ivr, analyst=analyst, audit=served.audit
        )
