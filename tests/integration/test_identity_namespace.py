"""Identities are per issuer, over real sockets (issue #12 item 5): a gateway trusting the
workforce IdP and a partner IdP that may grant `agent`. A partner token carrying an agent's `sub`
and that agent's X-Interaction-Id gets the unverified view, and its flood does not rate-limit
the agent."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.config import build_config
from gateway.demo import demo_config
from sources.sandbox.client import mint_token, start_contact
from sources.sandbox.server import background_server

QUERY = "query($ids: [ID!]!) { customers(ids: $ids) { id ssn } }"


@dataclass(frozen=True)
class TwoIssuers:
    url: str
    sandbox: str
    partner: str

    async def post(
        self, token: str, variables: dict[str, Any], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as http:
            return await http.post(
                "/graphql",
                json={"query": QUERY, "variables": variables},
                headers={"authorization": f"Bearer {token}", **(headers or {})},
            )

    async def tokens(self, sub: str) -> tuple[str, str]:
        """The workforce IdP's token and the partner's, both for `sub` with role agent."""
        ours = await mint_token(self.sandbox, sub=sub, roles=["agent"])
        theirs = await mint_token(self.sandbox, sub=sub, roles=["agent"], iss=self.partner)
        return ours, theirs


@pytest.fixture(scope="module")
def two_issuers(sandbox_url: str) -> Iterator[TwoIssuers]:
    raw = demo_config(0, int(sandbox_url.rsplit(":", 1)[1]))
    partner = f"{sandbox_url}/partner"
    # the partner's keys are the sandbox IdP's too: tokens are matched to issuers by `iss` alone
    raw["auth"]["issuers"] = [
        {
            "issuer": partner,
            "audience": "switchboard",
            "jwks_url": raw["auth"]["jwks_url"],
            "roles": ["agent"],
        }
    ]
    raw["trusted_documents"] = {"roles": []}
    raw["rate_limit"] = {"rate": 0.01, "burst": 3}
    with background_server(create_app(build_config(raw, env={})), lifespan="on") as url:
        yield TwoIssuers(url=url, sandbox=sandbox_url, partner=partner)


async def test_a_partner_token_with_an_agents_sub_gets_the_unverified_view(
    two_issuers: TwoIssuers, sample: list[dict[str, Any]]
) -> None:
    customer = sample[150]
    ours, theirs = await two_issuers.tokens("agent-0142")
    call = await start_contact(
        two_issuers.sandbox, customer_id=customer["id"], agent_id="agent-0142"
    )
    headers = {"x-interaction-id": call}
    agent = (await two_issuers.post(ours, {"ids": [customer["id"]]}, headers)).json()
    assert agent["data"]["customers"][0]["ssn"] == "***-**-" + customer["ssn"][-4:]
    forged = (await two_issuers.post(theirs, {"ids": [customer["id"]]}, headers)).json()
    assert forged["data"]["customers"][0]["ssn"] is None
    assert forged["errors"][0]["extensions"]["code"] == "FORBIDDEN_FIELD"


async def test_a_partner_flooding_with_an_agents_sub_does_not_limit_the_agent(
    two_issuers: TwoIssuers, sample: list[dict[str, Any]]
) -> None:
    ours, theirs = await two_issuers.tokens("agent-0177")
    variables = {"ids": [sample[151]["id"]]}
    statuses = [(await two_issuers.post(theirs, variables)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert (await two_issuers.post(ours, variables)).status_code == 200


async def test_the_partner_issuer_is_trusted(two_issuers: TwoIssuers) -> None:
    """Both tokens authenticate: the refusals above are not 401s in disguise."""
    ours, theirs = await two_issuers.tokens("agent-0199")
    statuses = [(await two_issuers.post(t, {"ids": []})).status_code for t in (ours, theirs)]
    assert statuses == [200, 200]
