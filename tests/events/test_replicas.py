"""Two gateway processes (replicas A and B) on one real redis-server, over real sockets: the
sandbox posts its signed webhooks to A only, agents subscribe (graphql-transport-ws) on B.
What a bank runs behind a load balancer: a pop reaches the agent whichever replica took the
webhook, a reconnect to the other replica resumes from its cursor, and a Redis restart (with
its append-only file, as docs/deployment asks) loses nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as redis
from websockets.asyncio.client import ClientConnection, connect

from gateway.events.mapping import SYSTEMS
from gateway.events.redis_broker import EXPORT_STREAM
from sources.sandbox.client import end_call, mint_token, sample_customers, start_call
from sources.sandbox.server import background_server
from sources.sandbox.webhooks import ccaas_event
from tests.events import payloads
from tests.events.payloads import SECRET
from tests.support.canary import canary_app as sandbox_app
from tests.support.processes import gateway_starting
from tests.support.redis import RedisProcess, redis_process

POP = """subscription ($after: String) {
  screenPops(after: $after) { cursor event interaction { id agentId } }
}"""


@dataclass(frozen=True)
class Cluster:
    a: str
    b: str
    sandbox: str
    redis: RedisProcess
    customer: str

    def ws(self, gateway: str) -> str:
        return gateway.replace("http://", "ws://") + "/graphql"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    # the sandbox posts nowhere until replica A is up; it retries long enough to outlast a
    # Redis restart (A answers 5xx while it cannot publish, and the vendor delivers again)
    sandbox = sandbox_app(
        customers=300, webhook_url="http://127.0.0.1:9/webhooks", webhook_secret=SECRET
    )
    assert sandbox.poster is not None
    sandbox.poster.attempts = 60
    with (
        redis_process(persist_in=tmp_path_factory.mktemp("redis")) as redis,
        background_server(sandbox, lifespan="off", before_exit=sandbox.abort_hanging) as sb,
    ):
        toml = "".join(f'[webhooks.{system}]\nsecrets = ["{SECRET}"]\n\n' for system in SYSTEMS)
        toml += f'[events]\nredis_url = "{redis.url}"\n'
        with gateway_starting(sb, toml) as a_starting, gateway_starting(sb, toml) as b_starting:
            a, _ = a_starting.ready()
            b, _ = b_starting.ready()
            sandbox.poster.base = f"{a}/webhooks"
            customer = asyncio.run(sample_customers(sb, 1))[0]["id"]
            yield Cluster(a, b, sb, redis, customer)


_agents = iter(range(100, 1000))


def _agent() -> str:
    """A fresh agent per test: no test sees another's calls."""
    return f"agent-{next(_agents):04d}"


async def _subscribe(
    cluster: Cluster, gateway: str, agent: str, after: str | None = None
) -> ClientConnection:
    token = await mint_token(cluster.sandbox, sub=agent, roles=["agent"])
    ws = await connect(cluster.ws(gateway), subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
    )
    ack = json.loads(await asyncio.wait_for(ws.recv(), 15))
    assert ack["type"] == "connection_ack", ack
    subscribe = {"query": POP, "variables": {"after": after}}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
    return ws


async def _pops(ws: ClientConnection, n: int) -> list[dict[str, Any]]:
    """The next `n` screen pops (pings skipped); any other frame fails the test."""
    pops: list[dict[str, Any]] = []
    while len(pops) < n:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if frame["type"] in ("ping", "pong"):
            continue
        assert frame["type"] == "next" and "errors" not in frame["payload"], frame
        pops.append(frame["payload"]["data"]["screenPops"])
    return pops


def _seen(pops: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(p["interaction"]["id"], p["event"]) for p in pops]


async def _until_registered(cluster: Cluster, ws: ClientConnection, agent: str) -> str:
    """Once a call of its agent has popped on `ws`, its subscription is registered with the
    broker: the call's three pops are read, the cursor of the last returned."""
    call = await start_call(cluster.sandbox, cluster.customer, agent, ring_ms=0, idv_after_ms=0)
    pops = await _pops(ws, 3)
    assert _seen(pops) == [(call, "OFFERED"), (call, "CONNECTED"), (call, "VERIFIED")]
    cursor: str = pops[-1]["cursor"]
    return cursor


def test_a_webhook_on_replica_a_pops_on_replica_b_once(cluster: Cluster) -> None:
    agent = _agent()

    async def scenario() -> None:
        on_b = await _subscribe(cluster, cluster.b, agent)
        await _until_registered(cluster, on_b, agent)
        call = await start_call(cluster.sandbox, cluster.customer, agent, ring_ms=0)
        pops = await _pops(on_b, 3)
        assert _seen(pops) == [(call, "OFFERED"), (call, "CONNECTED"), (call, "VERIFIED")]
        assert {p["interaction"]["agentId"] for p in pops} == {agent}
        # once: the next pop is the next event (the call ending), no repeat of the three
        await end_call(cluster.sandbox, call)
        assert _seen(await _pops(on_b, 1)) == [(call, "ENDED")]
        await on_b.close()

    asyncio.run(scenario())


def test_a_reconnect_to_the_other_replica_resumes_from_its_cursor_exactly_once(
    cluster: Cluster,
) -> None:
    agent = _agent()

    async def scenario() -> None:
        on_a = await _subscribe(cluster, cluster.a, agent)
        watcher = await _subscribe(cluster, cluster.b, agent)  # tells when the missed ones exist
        cursor = await _until_registered(cluster, on_a, agent)
        await _pops(watcher, 3)
        await on_a.close()  # the desktop loses replica A
        missed = await start_call(cluster.sandbox, cluster.customer, agent, ring_ms=0)
        assert [p["event"] for p in await _pops(watcher, 3)] == ["OFFERED", "CONNECTED", "VERIFIED"]
        # ... and reconnects through the load balancer to B with its last cursor
        on_b = await _subscribe(cluster, cluster.b, agent, after=cursor)
        pops = await _pops(on_b, 3)
        assert _seen(pops) == [(missed, "OFFERED"), (missed, "CONNECTED"), (missed, "VERIFIED")]
        await end_call(cluster.sandbox, missed)
        assert _seen(await _pops(on_b, 1)) == [(missed, "ENDED")]  # then live, nothing twice
        await on_b.close()
        await watcher.close()

    asyncio.run(scenario())


def test_a_redis_restart_mid_stream_loses_nothing(cluster: Cluster) -> None:
    """Events posted before, while and after Redis is down reach the subscriber on B once, in
    order: A answers 5xx while it cannot publish, the sandbox delivers again, B's reader
    reconnects and reads on from its last id (the stream survived in the append-only file)."""
    agent = _agent()

    async def scenario() -> None:
        on_b = await _subscribe(cluster, cluster.b, agent)
        await _until_registered(cluster, on_b, agent)
        before = await start_call(cluster.sandbox, cluster.customer, agent, ring_ms=0)
        pops = await _pops(on_b, 3)
        cluster.redis.stop()
        # a delivery while Redis is down is answered 5xx: not remembered, the vendor retries
        payment = payloads.signed(payloads.core(), webhook_id="msg_during_restart")
        assert (await _post_raw(cluster.a, "core", *payment)).status_code >= 500
        during = await start_call(cluster.sandbox, cluster.customer, agent, ring_ms=0)
        await end_call(cluster.sandbox, before)
        await asyncio.sleep(0.5)  # the sandbox's first deliveries fail meanwhile
        cluster.redis.start()
        assert (await _post_raw(cluster.a, "core", *payment)).status_code == 204
        after = await start_call(cluster.sandbox, cluster.customer, agent, ring_ms=0)
        pops += await _pops(on_b, 7)
        seen = _seen(pops)
        events = ["OFFERED", "CONNECTED", "VERIFIED"]
        assert [s for s in seen if s[0] == before] == [(before, e) for e in [*events, "ENDED"]]
        assert [s for s in seen if s[0] == during] == [(during, e) for e in events]
        assert [s for s in seen if s[0] == after] == [(after, e) for e in events]
        # in the stream's order (the sandbox delivers each call's events in order, and the
        # calls' among themselves as its retries allow)
        keys = [tuple(int(part) for part in p["cursor"].split("-")) for p in pops]
        assert keys == sorted(set(keys))
        await on_b.close()

    asyncio.run(scenario())


async def _post_raw(
    gateway: str, system: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(f"{gateway}/webhooks/{system}", content=body, headers=headers)


async def _post(gateway: str, system: str, payload: Any, webhook_id: str | None = None) -> None:
    response = await _post_raw(gateway, system, *payloads.signed(payload, webhook_id=webhook_id))
    assert response.status_code == 204, response.text


def test_a_vendor_event_delivered_to_both_replicas_pops_once(cluster: Cluster) -> None:
    """Behind a load balancer a vendor's retry lands on the other replica (whose webhook-id
    memory is its own), and a vendor may resend an event under a new webhook-id: the event id
    is deduplicated across replicas, in Redis."""
    agent = _agent()

    async def scenario() -> None:
        on_b = await _subscribe(cluster, cluster.b, agent)
        call = await start_call(cluster.sandbox, cluster.customer, agent, ring_ms=0)
        assert [p["event"] for p in await _pops(on_b, 3)] == ["OFFERED", "CONNECTED", "VERIFIED"]
        again = ccaas_event("CONTACT_DATA_UPDATED", call, agent_id=agent, idv="PASSED")
        await _post(cluster.a, "ccaas", again, "msg_retried")
        await _post(cluster.b, "ccaas", again, "msg_retried")  # the retry, on the other replica
        await _post(cluster.b, "ccaas", again)  # resent under a new webhook-id
        await end_call(cluster.sandbox, call)
        assert _seen(await _pops(on_b, 2)) == [(call, "VERIFIED"), (call, "ENDED")]
        await on_b.close()

    asyncio.run(scenario())


PII = ("+447700900123", "Jane Q Public", "jane@example.com", "GB33BUKB20201555555555", "1234.56")


def test_the_export_stream_carries_no_pii(cluster: Cluster) -> None:
    """Vendor payloads carry people's details (the caller's number, names, e-mail, IBAN,
    amounts): none of it reaches the export stream the analytics platform reads, whose entries
    have exactly the documented fields (docs/events-export.md)."""
    contact = ccaas_event("CONNECTED_TO_AGENT", "contact-pii-1", agent_id=_agent())
    contact["detail"]["customerEndpoint"] = {"Address": PII[0], "Type": "TELEPHONE_NUMBER"}
    contact["detail"]["contactData"] = {"attributes": {"idv": "PASSED", "customerName": PII[1]}}
    case = payloads.case_change()
    case["payload"] |= {"Subject": f"{PII[1]}: card stolen", "SuppliedEmail": PII[2]}
    payment = payloads.core() | {"iban": PII[3], "amount": PII[4], "counterpartyName": PII[1]}

    async def scenario() -> list[tuple[str, dict[str, str]]]:
        client: Any = redis.from_url(cluster.redis.url, decode_responses=True)
        start = await client.xrevrange(EXPORT_STREAM, count=1)
        await _post(cluster.a, "ccaas", contact)
        await _post(cluster.b, "crm", case)
        await _post(cluster.a, "core", payment)
        after = f"({start[0][0]}" if start else "-"
        entries: list[tuple[str, dict[str, str]]] = await client.xrange(EXPORT_STREAM, after)
        await client.aclose()
        return entries

    entries = asyncio.run(scenario())
    # (another test's call may add its last event meanwhile: every entry is checked)
    assert {fields["source"] for _, fields in entries} == {f"switchboard/{s}" for s in SYSTEMS}
    for _, fields in entries:
        assert set(fields) == {"cursor", "id", "source", "type", "time", "event"}
        event = orjson.loads(fields["event"])
        assert set(event) - {"traceparent"} == {
            *("specversion", "id", "source", "type", "time", "subject", "datacontenttype"),
            *("data", "sbreceived"),  # traceparent too when tracing is on (docs/operations.md)
        }
        assert not [value for value in PII if value in str(fields)], fields
