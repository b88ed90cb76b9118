"""`Subscription.screenPops` over real sockets: the sandbox's simulated calls post signed
contact events to the gateway, and agents' graphql-transport-ws subscriptions on `/graphql`
pop their own contacts, masked per event (tests/events/test_end_to_end.py has the ingest)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gateway.app import create_app
from gateway.config import build_config
from gateway.demo import demo_config
from gateway.events.screen_pops import primed
from gateway.http import serving as public
from sources.sandbox.client import end_call, reset_stats, sample_customers, start_call
from tests.events.sockets import Servers, frames, open_socket, serving, subscribe, until

POP = """subscription ($after: String) {
  screenPops(after: $after) {
    cursor event missed
    interaction { id agentId }
    customers { id fullName dateOfBirth }
  }
}"""


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    with serving() as found:
        yield found


def _token(servers: Servers, sub: str, ttl: int = 3600) -> str:
    return servers.token(sub, ttl)


_open = open_socket
_frames = frames


async def _subscribe(ws: ClientConnection, op_id: str = "1", after: str | None = None) -> None:
    await subscribe(ws, POP, {"after": after}, op_id)


def test_an_agent_gets_pops_of_their_own_call_masked_until_verified(
    servers: Servers, capfd: pytest.CaptureFixture[str]
) -> None:
    a, b = _token(servers, "agent-0001"), _token(servers, "agent-0002")

    async def scenario() -> tuple[list[dict[str, Any]], str, list[dict[str, Any]]]:
        customer = (await sample_customers(servers.sandbox, 1))[0]["id"]
        wa = await _open(servers.ws, a)
        wb = await _open(servers.ws, b)
        await _subscribe(wa)
        await _subscribe(wb)
        await asyncio.sleep(0.2)  # both subscriptions registered with the broker
        # ID&V passes a while after the call connects: the first two pops are read before it
        call = await start_call(
            servers.sandbox, customer, "agent-0001", ring_ms=0, idv_after_ms=2500
        )
        popped = await _frames(wa, 3)
        # agent B subscribed for the whole call and got nothing: a pop of B's own call next
        other = await start_call(servers.sandbox, customer, "agent-0002", ring_ms=0, idv_after_ms=0)
        b_frames = await _frames(wb, 1)
        await wa.close()
        await wb.close()
        assert call != other
        return popped, call, b_frames

    popped, call, b_frames = asyncio.run(scenario())
    pops = [f["payload"]["data"]["screenPops"] for f in popped]
    assert [p["event"] for p in pops] == ["OFFERED", "CONNECTED", "VERIFIED"]
    assert {p["interaction"]["id"] for p in pops} == {call}
    assert all(p["interaction"]["agentId"] == "agent-0001" for p in pops)
    assert all(len(p["customers"]) == 1 for p in pops)
    # before ID&V passed the agent role's PII_DOB is denied; the VERIFIED event unlocks it
    # without any header (the event is the proof, the CCaaS contact re-read confirms it)
    assert pops[0]["customers"][0]["dateOfBirth"] is None
    assert any(e["extensions"]["code"] == "FORBIDDEN_FIELD" for e in popped[0]["payload"]["errors"])
    assert pops[2]["customers"][0]["dateOfBirth"] is not None
    assert "errors" not in popped[2]["payload"]
    # each event audited on its own (the first two are written before the third is sent)
    audit = [
        json.loads(line) for line in capfd.readouterr().out.splitlines() if "screenPops" in line
    ]
    dob = [
        (e["treatment"], e["verified"])
        for e in audit
        if e["interactionId"] == call and e["class"] == "PII_DOB"
    ]
    assert dob[:2] == [("deny", False), ("deny", False)]
    b_pop = b_frames[0]["payload"]["data"]["screenPops"]
    assert b_pop["interaction"]["agentId"] == "agent-0002"
    assert b_pop["interaction"]["id"] != call


def test_a_query_over_the_socket_reads_nothing(servers: Servers) -> None:
    token = _token(servers, "agent-0001")

    async def scenario() -> dict[str, Any]:
        customer = (await sample_customers(servers.sandbox, 1))[0]["id"]
        ws = await _open(servers.ws, token)
        ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert ack["type"] == "connection_ack"
        query = "query ($id: ID!) { customer(id: $id) { fullName } }"
        payload = {"query": query, "variables": {"id": customer}}
        await ws.send(json.dumps({"id": "q", "type": "subscribe", "payload": payload}))
        frame = (await _frames(ws, 1))[0]
        await ws.close()
        return frame

    frame = asyncio.run(scenario())
    assert frame["type"] == "error"  # no `next`: no data
    assert [e["extensions"]["code"] for e in frame["payload"]] == ["BAD_REQUEST"]


@pytest.mark.parametrize("token", [None, "not-a-jwt"])
def test_connection_init_without_a_valid_token_closes_4403(
    servers: Servers, token: str | None
) -> None:
    async def scenario() -> int | None:
        ws = await _open(servers.ws, token)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        return closed.value.rcvd.code if closed.value.rcvd else None

    assert asyncio.run(scenario()) == 4403


def test_the_legacy_graphql_ws_subprotocol_is_refused(servers: Servers) -> None:
    async def scenario() -> tuple[str | None, int | None]:
        ws = await connect(servers.ws, subprotocols=["graphql-ws"])  # type: ignore[list-item]
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        return ws.subprotocol, closed.value.rcvd.code if closed.value.rcvd else None

    assert asyncio.run(scenario()) == (None, 4406)


def test_a_handshake_from_an_origin_not_allowed_is_refused(servers: Servers) -> None:
    token = _token(servers, "agent-0001")

    async def scenario(origin: str) -> str:
        try:
            ws = await _open(servers.ws, token, origin=origin)
        except InvalidStatus as exc:
            return f"refused {exc.response.status_code}"
        ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        await ws.close()
        return str(ack["type"])

    assert asyncio.run(scenario("https://evil.example")) == "refused 403"
    assert asyncio.run(scenario("https://desk.example")) == "connection_ack"


def test_the_stream_ends_at_token_expiry(servers: Servers) -> None:
    token = _token(servers, "agent-0003", ttl=2)

    async def scenario() -> tuple[dict[str, Any], int | None]:
        ws = await _open(servers.ws, token)
        await _subscribe(ws)
        frame = (await _frames(ws, 1))[0]
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 10)  # the `complete`, then the close
        return frame, closed.value.rcvd.code if closed.value.rcvd else None

    frame, code = asyncio.run(scenario())
    assert frame["type"] == "next"
    assert frame["payload"]["errors"][0]["extensions"]["code"] == "TOKEN_EXPIRED"
    assert code == 4403


def test_the_public_server_serves_the_websocket_past_the_header_timeout() -> None:
    """`switchboard serve`'s uvicorn settings (gateway/http/serving.py) take the upgrade, and
    the request-header deadline does not fire into the socket once it is a WebSocket."""
    raw = demo_config(0, 9)
    raw["server"]["header_timeout_seconds"] = 0.3
    config = build_config(raw, env={})
    uvicorn_config = public.public_config(create_app(config), config.server, lifespan="off")
    server = uvicorn.Server(uvicorn_config)

    async def scenario() -> tuple[bool, int | None]:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        running = asyncio.ensure_future(server.serve(sockets=[listener]))
        try:
            for _ in range(3000):  # up to 30 s
                if server.started:
                    break
                await asyncio.sleep(0.01)
            ws = await connect(
                f"ws://127.0.0.1:{port}/graphql",
                subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            )
            await asyncio.sleep(0.6)  # twice the header timeout, with no frame sent
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            return closed.value.rcvd is not None, (
                closed.value.rcvd.code if closed.value.rcvd else None
            )
        finally:
            server.should_exit = True
            await running
            listener.close()

    # the socket was still open to read connection_init: refused by the gateway (4403), not
    # cut by the header deadline
    assert asyncio.run(scenario()) == (True, 4403)


def test_context_read_at_offered_serves_connected_and_ended_with_no_back_end_call(
    servers: Servers,
) -> None:
    """The customer is read once, at OFFERED: CONNECTED and ENDED cost no back-end call, and
    VERIFIED only the CCaaS re-read that proves it; the date of birth denied on the first two
    frames is shown on the third from the same kept records (raw records: masking happens when
    a field is resolved, under each event's own access)."""
    token = _token(servers, "agent-0005")

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, int]], int, int]:
        customer = (await sample_customers(servers.sandbox, 3))[2]["id"]
        ws = await _open(servers.ws, token)
        await _subscribe(ws)
        await until(lambda: servers.subscribers >= 1)
        await reset_stats(servers.sandbox)
        call = await start_call(
            servers.sandbox, customer, "agent-0005", ring_ms=0, idv_after_ms=1500
        )
        calls = []
        popped = await _frames(ws, 2)  # OFFERED (the context read), CONNECTED
        calls.append(await servers.calls())
        kept = primed()
        popped += await _frames(ws, 1)  # VERIFIED
        calls.append(await servers.calls())
        await end_call(servers.sandbox, call)
        popped += await _frames(ws, 1)  # ENDED
        calls.append(await servers.calls())
        await until(lambda: primed() == 0)
        left = primed()
        await ws.close()
        return popped, calls, kept, left

    popped, calls, kept, left = asyncio.run(scenario())
    pops = [f["payload"]["data"]["screenPops"] for f in popped]
    assert [p["event"] for p in pops] == ["OFFERED", "CONNECTED", "VERIFIED", "ENDED"]
    assert [p["missed"] for p in pops] == [False] * 4
    assert len({p["interaction"]["id"] for p in pops}) == 1
    # OFFERED read the contact and its customer; CONNECTED nothing more
    assert calls[0] == {"ccaas GET /contacts": 1, "crm GET /customers": 1}
    assert kept == 1
    # VERIFIED re-read the contact only; ENDED nothing
    assert calls[1] == {"ccaas GET /contacts": 2, "crm GET /customers": 1}
    assert calls[2] == calls[1]
    dob = [p["customers"][0]["dateOfBirth"] for p in pops]
    assert dob[0] is None and dob[1] is None and dob[2] is not None
    assert popped[1]["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN_FIELD"
    # ended: unverified again, and nothing kept
    assert dob[3] is None
    assert left == 0


def test_a_subscription_cancelled_or_cut_leaves_nothing_behind(servers: Servers) -> None:
    """A `complete` from the client and a connection dropped without a close frame each end the
    feed: no broker subscription and no kept context remain."""
    token = _token(servers, "agent-0006")

    async def live_pop(customer: str) -> tuple[Any, str]:
        ws = await _open(servers.ws, token)
        await _subscribe(ws)
        await until(lambda: servers.subscribers >= 1)
        call = await start_call(
            servers.sandbox, customer, "agent-0006", ring_ms=0, idv_after_ms=600_000
        )
        await _frames(ws, 2)  # OFFERED, CONNECTED: the call's context is kept
        return ws, call

    async def scenario() -> list[tuple[int, int]]:
        customer = (await sample_customers(servers.sandbox, 4))[3]["id"]
        seen = []
        ws, call = await live_pop(customer)
        seen.append((servers.subscribers, primed()))
        await ws.send(json.dumps({"id": "1", "type": "complete"}))
        await until(lambda: servers.subscribers == 0 and primed() == 0)
        seen.append((servers.subscribers, primed()))
        await ws.close()
        await end_call(servers.sandbox, call)

        ws, call = await live_pop(customer)
        seen.append((servers.subscribers, primed()))
        ws.transport.abort()  # no close frame: the server finds out from the TCP reset
        await until(lambda: servers.subscribers == 0 and primed() == 0)
        seen.append((servers.subscribers, primed()))
        await end_call(servers.sandbox, call)
        return seen

    assert asyncio.run(scenario()) == [(1, 1), (0, 0), (1, 1), (0, 0)]
