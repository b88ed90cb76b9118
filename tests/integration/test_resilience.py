"""Back-ends that misbehave, over real sockets: the desktop gets everything else at once, within
the deadline, plus a per-system status it can act on (`extensions.sources`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.config import build_config
from gateway.demo import demo_config
from gateway.http.admin import admin_app_of
from sources import SYSTEMS
from sources.sandbox.client import mint_token, set_fault
from sources.sandbox.server import background_server

DEADLINE = 1.0
MARGIN = 0.5  # scheduling slack on a loaded 2-core machine; the deadline itself is the bound

QUERY = """query($id: ID!) { customer(id: $id) {
  id fullName accounts { id } cases { id } interactions(first: 3) { id }
} }"""


class Client:
    def __init__(self, url: str, sandbox: str, token: str, admin: str) -> None:
        self.url, self.sandbox, self.token, self.admin = url, sandbox, token, admin

    async def query(
        self, query: str, variables: dict[str, Any], headers: dict[str, str] | None = None
    ) -> tuple[dict[str, Any], float]:
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as http:
            response = await http.post(
                "/graphql",
                json={"query": query, "variables": variables},
                headers={"authorization": f"Bearer {self.token}", **(headers or {})},
            )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body, time.monotonic() - started

    async def ready(self) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.admin) as http:
            body: dict[str, Any] = (await http.get("/ready")).json()
            return body


@pytest.fixture
def client(sandbox_url: str) -> Iterator[Client]:
    """A gateway of its own per test: fresh circuit breakers, a 1 s deadline."""
    raw = demo_config(0, int(sandbox_url.rsplit(":", 1)[1]))
    raw["server"]["deadline_seconds"] = DEADLINE
    for source in raw["sources"].values():
        source.update(timeout=0.6, retries=1, breaker_min_calls=4, breaker_open_seconds=1.0)
    app = create_app(build_config(raw, env={}))
    with (
        background_server(app, lifespan="on") as url,
        background_server(admin_app_of(app), lifespan="off") as admin,
    ):
        token = asyncio.run(mint_token(sandbox_url, sub="analyst-0002", roles=["fraud_analyst"]))
        yield Client(url, sandbox_url, token, admin)


@pytest.fixture
async def restore(sandbox_url: str) -> AsyncIterator[None]:
    yield
    for system in SYSTEMS:
        await set_fault(sandbox_url, system, mode="ok", latency_ms=0, error_rate=0.0)


def errors_by_path(body: dict[str, Any]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(e["path"]): e["extensions"] for e in body.get("errors", [])}


async def test_a_hanging_system_costs_at_most_the_deadline_and_only_its_fields(
    client: Client, sample: list[dict[str, Any]], restore: None
) -> None:
    await set_fault(client.sandbox, "core", mode="timeout")
    body, elapsed = await client.query(QUERY, {"id": sample[0]["id"]})
    assert elapsed < DEADLINE + MARGIN
    customer = body["data"]["customer"]
    assert (
        customer["fullName"]
        and customer["cases"] is not None
        and customer["interactions"] is not None
    )
    assert customer["accounts"] is None
    assert errors_by_path(body) == {
        ("customer", "accounts"): {"code": "SOURCE_TIMEOUT", "source": "core"}
    }
    sources = body["extensions"]["sources"]
    assert sources["core"]["status"] == "timeout"
    assert sources["crm"]["status"] == "ok" and sources["ccaas"]["status"] == "ok"


async def test_a_client_may_ask_for_a_shorter_deadline(
    client: Client, sample: list[dict[str, Any]], restore: None
) -> None:
    await set_fault(client.sandbox, "ccaas", latency_ms=2000)
    body, elapsed = await client.query(
        QUERY, {"id": sample[0]["id"]}, {"x-request-timeout-ms": "300"}
    )
    assert elapsed < 0.3 + MARGIN
    assert errors_by_path(body)[("customer", "interactions")]["code"] == "SOURCE_TIMEOUT"
    more, _ = await client.query(QUERY, {"id": sample[0]["id"]}, {"x-request-timeout-ms": "99999"})
    assert more["extensions"]["sources"]["ccaas"]["status"] == "timeout"  # never beyond ours


async def test_a_failing_system_trips_its_breaker_then_recovers(
    client: Client, sample: list[dict[str, Any]], restore: None
) -> None:
    await set_fault(client.sandbox, "core", mode="down")
    codes = []
    for raw in sample[:6]:
        body, _ = await client.query(QUERY, {"id": raw["id"]})
        codes.append(errors_by_path(body)[("customer", "accounts")]["code"])
    assert codes[0] == "SOURCE_UNAVAILABLE" and codes[-1] == "CIRCUIT_OPEN"
    body, _ = await client.query(QUERY, {"id": sample[7]["id"]})
    assert body["extensions"]["sources"]["core"]["status"] == "circuit_open"
    assert body["data"]["customer"]["cases"] is not None  # the CRM is fine
    ready = await client.ready()
    assert ready["circuits"]["core"] == "open" and ready["circuits"]["crm"] == "closed"
    await set_fault(client.sandbox, "core", mode="ok")
    await asyncio.sleep(1.1)  # breaker_open_seconds: then one probe goes through
    body, _ = await client.query(QUERY, {"id": sample[8]["id"]})
    assert "errors" not in body
    assert (await client.ready())["circuits"]["core"] == "closed"


async def test_knowledge_down_serves_recent_articles_marked_stale_but_never_customer_data(
    client: Client, sample: list[dict[str, Any]], restore: None
) -> None:
    query = """query($id: ID!) { customer(id: $id) { accounts { id } suggestedArticles { id } } }"""
    raw = sample[9]
    fresh, _ = await client.query(query, {"id": raw["id"]})
    assert fresh["data"]["customer"]["suggestedArticles"]
    await set_fault(client.sandbox, "knowledge", mode="down")
    await set_fault(client.sandbox, "core", mode="error")
    stale, _ = await client.query(query, {"id": raw["id"]})
    customer = stale["data"]["customer"]
    assert customer["suggestedArticles"] == fresh["data"]["customer"]["suggestedArticles"]
    assert stale["extensions"]["sources"]["knowledge"]["status"] == "stale"
    assert customer["accounts"] is None  # core data is never served from a cache
    assert set(errors_by_path(stale)) == {("customer", "accounts")}


@pytest.fixture
def tuned(sandbox_url: str, request: pytest.FixtureRequest) -> Iterator[Client]:
    """A gateway whose core settings the test names (indirect parametrisation)."""
    raw = demo_config(0, int(sandbox_url.rsplit(":", 1)[1]))
    raw["server"]["deadline_seconds"] = DEADLINE
    raw["sources"]["core"].update(request.param)
    with background_server(create_app(build_config(raw, env={})), lifespan="on") as url:
        token = asyncio.run(mint_token(sandbox_url, sub="analyst-0003", roles=["fraud_analyst"]))
        yield Client(url, sandbox_url, token, admin="")  # /ready is not asked here


async def core_calls(sandbox: str, route: str) -> int:
    async with httpx.AsyncClient() as http:
        stats = (await http.get(f"{sandbox}/_sandbox/stats")).json()
    count: int = stats["core"]["by_route"].get(route, 0)
    return count


@pytest.mark.parametrize("tuned", [{"retries": 2, "retry_base_delay": 0.01}], indirect=True)
async def test_transient_errors_are_retried_and_garbage_is_not(
    tuned: Client, sample: list[dict[str, Any]], restore: None
) -> None:
    query = "query($id: ID!) { customer(id: $id) { accounts { id } } }"
    await set_fault(tuned.sandbox, "core", mode="error")  # 503 every time
    before = await core_calls(tuned.sandbox, "GET /accounts")
    body, _ = await tuned.query(query, {"id": sample[10]["id"]})
    assert errors_by_path(body)[("customer", "accounts")]["code"] == "SOURCE_UNAVAILABLE"
    assert await core_calls(tuned.sandbox, "GET /accounts") - before == 3  # 1 + 2 retries
    await set_fault(tuned.sandbox, "core", mode="garbage")
    before = await core_calls(tuned.sandbox, "GET /accounts")
    body, _ = await tuned.query(query, {"id": sample[11]["id"]})
    assert errors_by_path(body)[("customer", "accounts")]["code"] == "SOURCE_BAD_RESPONSE"
    assert await core_calls(tuned.sandbox, "GET /accounts") - before == 1


@pytest.mark.parametrize(
    "tuned", [{"max_in_flight": 1, "max_queue": 0, "max_batch": 100, "retries": 0}], indirect=True
)
async def test_a_saturated_system_fails_fast_instead_of_queueing(
    tuned: Client, sample: list[dict[str, Any]], restore: None
) -> None:
    await set_fault(tuned.sandbox, "core", latency_ms=300)
    ids = [c["id"] for c in sample[:200]]  # two chunks of 100 for core: one in flight, one refused
    body, elapsed = await tuned.query(
        "query($ids: [ID!]!) { customers(ids: $ids) { id accounts { id } } }", {"ids": ids}
    )
    codes = {e["extensions"]["code"] for e in body["errors"]}
    assert codes == {"SOURCE_OVERLOADED"}
    assert body["extensions"]["sources"]["core"]["status"] == "overloaded"
    served = [c for c in body["data"]["customers"] if c["accounts"] is not None]
    assert len(served) == 100  # the chunk that got the slot was answered
    assert elapsed < DEADLINE + MARGIN
