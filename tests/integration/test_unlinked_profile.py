"""A query naming (X-Interaction-Id) a live, ID&V-passed call whose CCaaS profile no CRM customer
links: nobody is verified, and `extensions.verification` says `no_profile`, as the screen pop's
frame does for the same contact (gateway/masking/verification.py `verifier`, the one rule) —
never `verified` while every value stays masked. Over real sockets, on both executions, against
a sandbox of this module's own (the test unlinks a profile in it)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from gateway.config import build_config
from gateway.demo import demo_config
from sources.sandbox.app import SandboxApp
from sources.sandbox.client import mint_token, sample_customers, start_contact
from sources.sandbox.server import background_server
from tests.differential.conftest import canonical
from tests.support.audited import audited_gateway
from tests.support.canary import canary_app

from .conftest import Gateway

AGENT = "agent-0042"
QUERY = "query($id: ID!) { interaction(id: $id) { id customer { id ssn } } }"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[SandboxApp, str]]:
    app = canary_app(seed=11, customers=50)
    with background_server(app, lifespan="on") as url:
        yield app, url


def _gateway(sandbox_url: str, execution: str) -> Iterator[Gateway]:
    raw = demo_config(0, int(sandbox_url.rsplit(":", 1)[1]), execution=execution)
    raw["trusted_documents"] = {"roles": []}
    raw["rate_limit"] = {"enabled": False}
    with audited_gateway(build_config(raw, env={})) as served:
        token = asyncio.run(mint_token(sandbox_url, sub=AGENT, roles=["agent"]))
        yield Gateway(
            url=served.url, sandbox=sandbox_url, token=token, audit=served.audit, admin=""
        )


@pytest.fixture(scope="module")
def compiled(sandbox: tuple[SandboxApp, str]) -> Iterator[Gateway]:
    yield from _gateway(sandbox[1], "compiled")


@pytest.fixture(scope="module")
def standard(sandbox: tuple[SandboxApp, str]) -> Iterator[Gateway]:
    yield from _gateway(sandbox[1], "standard")


@pytest.fixture(params=["compiled", "standard"])
def gw(request: pytest.FixtureRequest, compiled: Gateway, standard: Gateway) -> Gateway:
    return compiled if request.param == "compiled" else standard


def _unlink(app: SandboxApp, customer_id: str) -> None:
    """No CRM customer links that customer's CCaaS profile any more (its contacts keep it)."""
    population = app.data.population
    index = population.by_crm_id[customer_id]
    profile = next(p for p, i in population.by_profile_id.items() if i == index)
    del population.by_profile_id[profile]  # this module's own sandbox


@pytest.fixture(scope="module")
def unlinked(sandbox: tuple[SandboxApp, str]) -> str:
    """A live call of AGENT, ID&V passed, whose profile no CRM customer links."""
    app, url = sandbox
    customer = asyncio.run(sample_customers(url, 3))[0]
    call = asyncio.run(start_contact(url, customer_id=customer["id"], agent_id=AGENT))
    _unlink(app, customer["id"])
    return call


async def test_a_verified_call_whose_profile_nobody_links_says_no_profile(
    gw: Gateway, unlinked: str
) -> None:
    body = await gw.query(QUERY, {"id": unlinked}, headers={"x-interaction-id": unlinked})
    assert body["data"]["interaction"] == {"id": unlinked, "customer": None}
    assert body["extensions"]["verification"] == {
        "interactionId": unlinked,
        "status": "not_verified",
        "reason": "no_profile",
    }


async def test_a_verified_call_whose_profile_is_linked_still_verifies(
    gw: Gateway, sandbox: tuple[SandboxApp, str]
) -> None:
    url = sandbox[1]
    customer = (await sample_customers(url, 3))[1]
    call = await start_contact(url, customer_id=customer["id"], agent_id=AGENT)
    body = await gw.query(QUERY, {"id": call}, headers={"x-interaction-id": call})
    assert body["data"]["interaction"]["customer"] == {
        "id": customer["id"],
        "ssn": "***-**-" + customer["ssn"][-4:],
    }
    assert body["extensions"]["verification"] == {"interactionId": call, "status": "verified"}


async def test_both_executions_answer_the_unlinked_call_alike(
    compiled: Gateway, standard: Gateway, unlinked: str
) -> None:
    """Compiled plans and standard execution: the same answer, report and back-end calls."""
    answers = []
    for gateway in (compiled, standard):
        await gateway.reset()
        body = await gateway.query(QUERY, {"id": unlinked}, headers={"x-interaction-id": unlinked})
        answers.append((canonical(body), await gateway.calls()))
    assert answers[0] == answers[1]
    assert answers[0][1] == {"ccaas GET /contacts": 1, "crm GET /customers": 1}
