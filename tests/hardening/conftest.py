"""A production-profile gateway over real sockets, with a trusted-documents manifest, tight
rate limits for one role, a CORS allow-list, and introspection for developers only."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.config import build_config
from gateway.demo import demo_config
from sources import SYSTEMS
from sources.sandbox import running
from sources.sandbox.client import mint_token, reset_stats, sample_customers, stats
from sources.sandbox.server import background_server

IVR_BALANCE = (
    "query IvrBalance($id: ID!) { customer(id: $id) { firstName segment accounts { type } } }"
)
ORIGIN = "https://desktop.example.com"
ROLES = ("agent", "ivr", "developer", "supervisor", "fraud_analyst", "collections")
METERED = "metered"  # a role with a tight rate limit, used by the rate-limit test only


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Production:
    url: str
    sandbox: str
    tokens: dict[str, str]
    sample: list[dict[str, Any]]

    async def post(
        self, payload: Any, role: str = "agent", headers: dict[str, str] | None = None
    ) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as http:
            return await http.post(
                "/graphql",
                json=payload,
                headers={"authorization": f"Bearer {self.tokens[role]}", **(headers or {})},
            )

    async def query(
        self, query: str, variables: dict[str, Any] | None = None, role: str = "agent"
    ) -> dict[str, Any]:
        response = await self.post({"query": query, "variables": variables or {}}, role)
        body: dict[str, Any] = response.json()
        return body

    async def backend_calls(self) -> int:
        counters = await stats(self.sandbox)
        return sum(counters[s]["requests"] for s in SYSTEMS)

    async def reset(self) -> None:
        await reset_stats(self.sandbox)


@pytest.fixture(scope="session")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Production]:
    manifest = tmp_path_factory.mktemp("trusted") / "manifest.json"
    manifest.write_text(json.dumps({sha256(IVR_BALANCE): IVR_BALANCE}))
    with running(seed=7, customers=1_000) as sandbox:
        raw = demo_config(0, int(sandbox.rsplit(":", 1)[1]))
        raw["server"] = {
            "profile": "production",
            "introspection_roles": ["developer"],
            "cors_origins": [ORIGIN],
        }
        raw["trusted_documents"] = {"manifest": str(manifest), "roles": ["ivr"]}
        raw["rate_limit"] = {
            "rate": 1000,
            "burst": 1000,
            "roles": {"metered": {"rate": 0.2, "burst": 3}},
        }
        raw["audit"] = {"sink": "stderr"}
        app = create_app(build_config(raw, env={}))
        with background_server(app, lifespan="on", websockets=True) as url:

            async def setup() -> tuple[dict[str, str], list[dict[str, Any]]]:
                tokens = {
                    r: await mint_token(sandbox, sub=f"{r}-0001", roles=[r])
                    for r in (*ROLES, METERED)
                }
                return tokens, await sample_customers(sandbox, 20)

            tokens, sample = asyncio.run(setup())
            yield Production(url, sandbox, tokens, sample)


def root() -> Path:
    return Path(__file__).resolve().parents[2]
