"""`Subscription.writeCompleted` over graphql-transport-ws: one frame when the write is final
(at once if it already is), for its writer or a supervisor only; and the hook's audit line and
events (gateway/writes/settled.py)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from gateway.auth.authenticator import Principal
from gateway.events.broker import Item
from gateway.observability.audit import AuditLog
from gateway.writes import WriteIntent, api
from gateway.writes.rules import WriteRules
from sources.sandbox.client import mint_token, start_contact
from tests.mutations.conftest import Writer
from tests.mutations.doubles import FakeWrites
from tests.mutations.test_authorisation import DISPOSE

COMPLETED = "subscription ($id: ID!) { writeCompleted(id: $id) { writeId status recordId } }"


async def _subscribe(writer: Writer, token: str, write_id: str) -> ClientConnection:
    ws = await connect(writer.ws, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
    )
    ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert ack["type"] == "connection_ack"
    payload = {"query": COMPLETED, "variables": {"id": write_id}}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
    return ws


async def _frames(ws: ClientConnection, n: int) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    while len(frames) < n:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
        if frame["type"] != "ping":
            frames.append(frame)
    return frames


def _write(writer: Writer, agent: str, customer: int) -> dict[str, Any]:
    contact = writer.contact(writer.customers[customer], agent)
    variables = {
        "input": {
            "interactionId": contact,
            "code": "FOLLOW_UP",
            "idempotencyKey": str(uuid.uuid4()),
        }
    }
    body = writer.post(DISPOSE, variables, writer.token(agent, ["agent"]))
    result: dict[str, Any] = body["data"]["recordDisposition"]
    return result


def test_a_pending_write_completes_with_one_frame(
    writer: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the frame comes from the write's own event, not from the periodic re-read
    monkeypatch.setattr(api, "RECHECK_SECONDS", 3600.0)
    writer.writes.pending = True
    try:
        pending = _write(writer, "agent-0501", 30)
    finally:
        writer.writes.pending = False
    assert pending["status"] == "PENDING" and pending["recordId"] is None
    token = writer.token("agent-0501", ["agent"])
    write_id = pending["writeId"]
    writer.audit.clear()

    async def scenario() -> list[dict[str, Any]]:
        ws = await _subscribe(writer, token, write_id)
        await asyncio.sleep(0.3)  # subscribed, still pending: nothing yet
        await asyncio.to_thread(writer.writes.settle_from_another_thread, write_id)
        frames = await _frames(ws, 2)
        await ws.close()
        return frames

    frames = asyncio.run(scenario())
    assert [f["type"] for f in frames] == ["next", "complete"]
    assert frames[0]["payload"].get("data"), frames
    assert frames[0]["payload"]["data"]["writeCompleted"] == {
        "writeId": write_id,
        "status": "APPLIED",
        "recordId": "00T000000000000999",
    }
    audited = [e for e in writer.audit if e["type"] == "write"]
    assert [(e["writeId"], e["outcome"], e["subject"]) for e in audited] == [
        (write_id, "APPLIED", "agent-0501")
    ]


def test_a_final_write_completes_at_once(writer: Writer) -> None:
    applied = _write(writer, "agent-0502", 31)
    token = writer.token("sup-0501", ["supervisor"])

    async def scenario() -> list[dict[str, Any]]:
        ws = await _subscribe(writer, token, applied["writeId"])
        frames = await _frames(ws, 2)
        await ws.close()
        return frames

    frames = asyncio.run(scenario())
    assert [f["type"] for f in frames] == ["next", "complete"]
    assert frames[0]["payload"]["data"]["writeCompleted"]["status"] == "APPLIED"


def test_another_agents_write_is_not_found(writer: Writer) -> None:
    applied = _write(writer, "agent-0503", 32)
    others = [
        writer.token("agent-0504", ["agent"]),
        writer.token("agent-0503", ["agent"], partner=True),  # the same sub, another issuer
    ]

    async def scenario(token: str) -> list[dict[str, Any]]:
        ws = await _subscribe(writer, token, applied["writeId"])
        frames = await _frames(ws, 1)
        await ws.close()
        return frames

    for token in others:
        frames = asyncio.run(scenario(token))
        # the subscription's own error, in its one frame: no data
        payload = frames[0]["payload"]
        assert frames[0]["type"] == "next" and payload["data"] is None
        assert [e["extensions"]["code"] for e in payload["errors"]] == ["NOT_FOUND"]


def test_a_mutation_or_a_write_query_over_the_socket_does_nothing(writer: Writer) -> None:
    """Writes go by HTTP POST (with its rate limit, body limit and CSRF rules); over the socket
    a supervisor's case note, which reads nothing first, must still not be written."""
    token = writer.token("sup-0502", ["supervisor"])
    note = (
        'mutation { addCaseNote(input: {caseId: "500SB0000000000001", note: "hello", '
        'idempotencyKey: "socket-1"}) { status } }'
    )
    ask = 'query { write(id: "w_00000000000000000000000000000000") { status } }'
    before = len(writer.writes.intents)

    async def scenario(document: str) -> dict[str, Any]:
        ws = await connect(writer.ws, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
        await ws.send(json.dumps(init))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": document}}))
        frame = (await _frames(ws, 1))[0]
        await ws.close()
        return frame

    for document in (note, ask):
        frame = asyncio.run(scenario(document))
        payload = frame["payload"]
        errors = payload if frame["type"] == "error" else payload["errors"]
        assert [e["extensions"]["code"] for e in errors] == ["BAD_REQUEST"]
        assert frame["type"] == "error" or payload["data"] is None
    assert len(writer.writes.intents) == before


def test_a_subscription_outliving_the_broker_s_feed_still_completes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the broker ends its feed (shutting down), `writeCompleted` re-reads the write on a
    timer instead of spinning: the worker settling it meanwhile still gets its turn."""
    monkeypatch.setattr(api, "RECHECK_SECONDS", 0.01)

    class Ended:
        def __aiter__(self) -> Ended:
            return self

        async def __anext__(self) -> Item:
            raise StopAsyncIteration

        async def aclose(self) -> None:
            return None

    class Closing:
        def subscribe(self, after: str | None = None) -> Ended:
            return Ended()

    class Counted(FakeWrites):
        reads = 0

        async def get(self, write_id: str) -> Any:
            self.reads += 1
            if self.reads > 100:  # re-read with nothing in between: spinning
                raise RuntimeError("writeCompleted is spinning")
            return await super().get(write_id)

    async def scenario() -> list[Any]:
        writes = Counted(lambda record: asyncio.sleep(0))
        writes.pending = True
        intent = WriteIntent(
            "addCaseNote", "iss", "agent-1", "k", "500SB0000000000001", "CaseComment", {}
        )
        pending = await writes.submit(intent)
        principal = Principal("agent-1", frozenset({"agent"}), "iss", time.time() + 60)
        gate = api.WriteGate(writes, WriteRules(), Closing(), AuditLog(lambda b: None))  # type: ignore[arg-type]
        feed = gate.for_socket(lambda: principal).completed(pending.write_id)
        # settled by "the worker" once the feed is waiting: a spinning feed never lets it run
        asyncio.get_running_loop().call_soon(
            lambda: asyncio.ensure_future(writes.settle(pending.write_id))
        )
        async with asyncio.timeout(10):  # a hang guard, not a timing assertion
            return [r async for r in feed]

    [record] = asyncio.run(scenario())
    assert record.status == "APPLIED"


def test_write_completed_over_sse(writer: Writer) -> None:
    """`POST /graphql/stream` serves writeCompleted as the WebSocket does: one `next`, then
    `complete`."""
    applied = _write(writer, "agent-0506", 33)
    token = writer.token("agent-0506", ["agent"])
    events: list[str] = []
    with httpx.stream(
        "POST",
        f"{writer.url}/graphql/stream",
        json={"query": COMPLETED, "variables": {"id": applied["writeId"]}},
        headers={"authorization": f"Bearer {token}", "accept": "text/event-stream"},
        timeout=15,
    ) as response:
        assert response.status_code == 200
        data = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                events.append(line.removeprefix("event: "))
            elif line.startswith("data: ") and data is None:
                data = json.loads(line.removeprefix("data: "))
            if events and events[-1] == "complete":
                break
    assert events == ["next", "complete"]
    assert data is not None and data["data"]["writeCompleted"]["status"] == "APPLIED"


def test_a_disposition_reaches_the_customer_s_journey(writer: Writer) -> None:
    """The write's canonical event goes into the pipeline: a desktop following the customer's
    journey gets an update for the disposition."""
    customer = writer.customers[34]
    supervisor = writer.token("sup-0507", ["supervisor"])
    journey = (
        "subscription ($id: ID!) { journeyUpdates(customerId: $id) { cause customer { id } } }"
    )

    async def scenario() -> list[dict[str, Any]]:
        ws = await connect(writer.ws, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {supervisor}"}}
        await ws.send(json.dumps(init))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
        payload = {"query": journey, "variables": {"id": customer["id"]}}
        await ws.send(json.dumps({"id": "j", "type": "subscribe", "payload": payload}))
        await asyncio.sleep(0.3)  # subscribed with the broker
        contact = await start_contact(
            writer.sandbox, customer_id=customer["id"], agent_id="agent-0507"
        )
        token = await mint_token(writer.sandbox, sub="agent-0507", roles=["agent"])
        variables = {
            "input": {"interactionId": contact, "code": "RESOLVED", "idempotencyKey": "j-1"}
        }
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.post(
                f"{writer.url}/graphql",
                json={"query": DISPOSE, "variables": variables},
                headers={"authorization": f"Bearer {token}"},
            )
        assert answer.json()["data"]["recordDisposition"]["status"] == "APPLIED"
        frames = await _frames(ws, 1)
        await ws.close()
        return frames

    [frame] = asyncio.run(scenario())
    update = frame["payload"]["data"]["journeyUpdates"]
    assert update == {"cause": "CONTACT", "customer": {"id": customer["id"]}}
