"""A gateway over real sockets in front of the sandbox, its write service a test double
(tests/mutations/doubles.py): the GraphQL side of write-back — who may write, what a write may
hold, where a write stands — tested against real CCaaS and CRM reads."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.config import build_config
from gateway.demo import demo_config
from gateway.writes import OnSettled
from sources.sandbox.client import mint_token, sample_customers, start_contact
from tests.mutations.doubles import FakeWrites
from tests.support.audited import audited_gateway
from tests.support.canary import canary_check, canary_sandbox, canary_session

__all__ = ["Writer", "canary_check", "canary_session"]  # writes run under the PII canary


@dataclass
class Writer:
    url: str
    sandbox: str
    partner: str
    writes: FakeWrites
    audit: list[dict[str, Any]]
    customers: list[dict[str, Any]]
    app: Starlette

    @property
    def ws(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"

    def token(self, sub: str, roles: Sequence[str], *, partner: bool = False) -> str:
        if partner:
            return asyncio.run(mint_token(self.sandbox, sub=sub, roles=roles, iss=self.partner))
        return asyncio.run(mint_token(self.sandbox, sub=sub, roles=roles))

    def contact(self, customer: dict[str, Any], agent: str) -> str:
        return asyncio.run(start_contact(self.sandbox, customer_id=customer["id"], agent_id=agent))

    def post(
        self, query: str, variables: dict[str, Any], token: str, **headers: str
    ) -> dict[str, Any]:
        sent = {"authorization": f"Bearer {token}"}
        sent.update({k.replace("_", "-"): v for k, v in headers.items()})
        response = httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables},
            headers=sent,
            timeout=30,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture(scope="module")
def writer() -> Iterator[Writer]:
    with canary_sandbox(seed=11, customers=300) as sandbox:
        raw = demo_config(0, int(sandbox.rsplit(":", 1)[1]))
        partner = f"{sandbox}/partner"
        # the partner's keys are the sandbox IdP's: tokens are matched to issuers by `iss`
        raw["auth"]["issuers"] = [
            {
                "issuer": partner,
                "audience": "switchboard",
                "jwks_url": raw["auth"]["jwks_url"],
                "roles": ["agent", "supervisor"],
            }
        ]
        raw["trusted_documents"] = {"roles": []}
        raw["rate_limit"] = {"enabled": False}
        made: list[FakeWrites] = []

        def writes(on_settled: OnSettled) -> FakeWrites:
            made.append(FakeWrites(on_settled))
            return made[0]

        config = build_config(raw, env={})
        with audited_gateway(config, watched=True, writes=writes, websockets=True) as served:
            customers = asyncio.run(sample_customers(sandbox, 40))
            yield Writer(served.url, sandbox, partner, made[0], served.audit, customers, served.app)
