"""Subscriptions over SSE, `POST /graphql/stream` (graphql-sse, distinct connections), over real
sockets: the sandbox's simulated calls post signed contact events to the gateway, agents'
streams pop their own contacts (tests/events/test_screen_pops.py does the same over the
WebSocket). Also the per-subject cap shared with the WebSocket, resume by `Last-Event-ID`,
refusals, CORS, and what a vanished client leaves behind (nothing)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
import pytest
import strawberry
import uvicorn
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send
from websockets.asyncio.client import connect

from gateway.app import create_app
from gateway.auth.authenticator import Principal
from gateway.config import ServerSettings, build_config
from gateway.demo import demo_config
from gateway.events.broker import InProcessBroker
from gateway.events.caps import SubjectCaps
from gateway.http.sse import StreamView
from sources.sandbox.client import end_call, mint_token, sample_customers, start_call
from sources.sandbox.server import background_server
from tests.events.payloads import SECRET
from tests.support.canary import canary_app as sandbox_app

POP = """subscription ($after: String) {
  screenPops(after: $after) {
    cursor event
    interaction { id agentId }
    customers { id fullName dateOfBirth }
  }
}"""
ALLOWED, REFUSED = "https://desk.example", "https://evil.example"
CAP = 10  # [events] max_streams_per_subject, the default


@dataclass(frozen=True)
class Servers:
    gateway: str
    sandbox: str
    app: Starlette

    @property
    def stream(self) -> str:
        return self.gateway + "/graphql/stream"

    @property
    def broker(self) -> InProcessBroker:
        broker: InProcessBroker = self.app.state.events
        return broker

    @property
    def caps(self) -> SubjectCaps:
        caps: SubjectCaps = self.app.state.caps
        return caps


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    sandbox = sandbox_app(
        customers=300, webhook_url="http://127.0.0.1:9/webhooks", webhook_secret=SECRET
    )
    with background_server(sandbox, lifespan="off", before_exit=sandbox.abort_hanging) as sb:
        port = int(sb.rsplit(":", 1)[1])
        raw = demo_config(0, port, cors_origins=[ALLOWED])
        raw["webhooks"] = {"ccaas": {"secrets": [SECRET]}}
        raw["events"] = {"keepalive_seconds": 0.3}  # idle streams get comments quickly here
        raw["rate_limit"] = {"enabled": False}
        app = create_app(build_config(raw, env={}))
        with background_server(app, websockets=True) as gw:
            assert sandbox.poster is not None
            sandbox.poster.base = f"{gw}/webhooks"
            yield Servers(gw, sb, app)


def _token(servers: Servers, sub: str, ttl: int = 3600) -> str:
    return asyncio.run(mint_token(servers.sandbox, sub=sub, roles=["agent"], ttl=ttl))


@dataclass
class Frame:
    event: str | None
    id: str | None
    data: Any


@dataclass
class Stream:
    """An SSE reader: frames in order, keep-alive comments counted and skipped."""

    response: httpx.Response
    comments: int = 0
    _lines: AsyncIterator[str] | None = field(default=None, repr=False)

    async def frame(self) -> Frame:
        if self._lines is None:
            self._lines = self.response.aiter_lines()
        event: str | None = None
        ident: str | None = None
        data: list[str] = []
        while True:
            line = await asyncio.wait_for(anext(self._lines), 15)
            if line.startswith(":"):
                self.comments += 1
                continue
            if line == "":
                if event is None and ident is None and not data:
                    continue
                text = "\n".join(data)
                return Frame(event, ident, json.loads(text) if text else None)
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "id":
                ident = value
            elif name == "data":
                data.append(value)

    async def rest(self) -> list[str]:
        """The lines left until the server ends the response."""
        if self._lines is None:
            self._lines = self.response.aiter_lines()
        return [line async for line in self._lines]

    async def pops(self, n: int) -> list[Frame]:
        frames = [await self.frame() for _ in range(n)]
        assert all(f.event == "next" for f in frames), frames
        return frames


@contextlib.asynccontextmanager
async def _open(
    servers: Servers,
    token: str | None,
    *,
    after: str | None = None,
    headers: dict[str, str] | None = None,
    query: str = POP,
) -> AsyncIterator[Stream]:
    sent = {"accept": "text/event-stream", **(headers or {})}
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    body = {"query": query, "variables": {"after": after}}
    async with (
        httpx.AsyncClient(timeout=30) as http,
        http.stream("POST", servers.stream, json=body, headers=sent) as response,
    ):
        yield Stream(response)


async def _until(check: Callable[[], bool], what: str) -> None:
    """Polls a count the gateway keeps (its loop runs in another thread)."""
    for _ in range(1500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never true: {what}")


def _pop(frame: Frame) -> dict[str, Any]:
    pop: dict[str, Any] = frame.data["data"]["screenPops"]
    return pop


def test_a_call_pops_on_its_agent_s_stream_only_masked_until_verified(servers: Servers) -> None:
    a, b = _token(servers, "agent-0001"), _token(servers, "agent-0002")

    async def scenario() -> tuple[httpx.Headers, list[Frame], str, list[Frame]]:
        customer = (await sample_customers(servers.sandbox, 1))[0]["id"]
        base = servers.broker.subscribers
        async with _open(servers, a) as sa, _open(servers, b) as sb:
            await _until(lambda: servers.broker.subscribers == base + 2, "both subscribed")
            # ID&V passes a while after the call connects: the first two pops are read before
            call = await start_call(
                servers.sandbox, customer, "agent-0001", ring_ms=0, idv_after_ms=2500
            )
            popped = await sa.pops(3)
            # B was subscribed for all of A's call: its first pop is of its own call
            other = await start_call(
                servers.sandbox, customer, "agent-0002", ring_ms=0, idv_after_ms=0
            )
            b_frames = await sb.pops(1)
            assert other != call
            return sa.response.headers, popped, call, b_frames

    headers, popped, call, b_frames = asyncio.run(scenario())
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["cache-control"].startswith("no-cache")
    assert headers["x-accel-buffering"] == "no"
    pops = [_pop(f) for f in popped]
    assert [p["event"] for p in pops] == ["OFFERED", "CONNECTED", "VERIFIED"]
    assert {p["interaction"]["id"] for p in pops} == {call}
    assert all(p["interaction"]["agentId"] == "agent-0001" for p in pops)
    # each frame's `id:` is its cursor: what a reconnecting client sends back
    assert [f.id for f in popped] == [p["cursor"] for p in pops]
    assert len(set(f.id for f in popped)) == 3
    # masked until the VERIFIED event, with the code that says why
    assert pops[0]["customers"][0]["dateOfBirth"] is None
    codes = {e["extensions"]["code"] for e in popped[0].data["errors"]}
    assert codes == {"FORBIDDEN_FIELD"}
    assert pops[2]["customers"][0]["dateOfBirth"] is not None
    assert "errors" not in popped[2].data
    b_pop = _pop(b_frames[0])
    assert b_pop["interaction"]["agentId"] == "agent-0002"
    assert b_pop["interaction"]["id"] != call


def test_last_event_id_resumes_with_the_missed_events_exactly_once(servers: Servers) -> None:
    token = _token(servers, "agent-0004")

    async def scenario() -> tuple[list[Frame], list[Frame]]:
        customer = (await sample_customers(servers.sandbox, 1))[0]["id"]
        base = servers.broker.subscribers
        async with _open(servers, token) as first:
            await _until(lambda: servers.broker.subscribers == base + 1, "subscribed")
            call = await start_call(
                servers.sandbox, customer, "agent-0004", ring_ms=0, idv_after_ms=300
            )
            seen = await first.pops(2)  # OFFERED, CONNECTED; then the desktop goes away
        await _until(lambda: servers.broker.subscribers == base, "the first stream gone")
        await _until(
            lambda: any(
                d.event.type == "customer.verified" and d.event.subject == call
                for d in servers.broker.window()
            ),
            "VERIFIED published while nobody listened",
        )
        # the document's `after` names an older cursor (OFFERED's): Last-Event-ID wins
        offered, connected = seen[0].id, seen[1].id
        assert offered and connected
        async with _open(
            servers, token, after=offered, headers={"last-event-id": connected}
        ) as again:
            await _until(lambda: servers.broker.subscribers == base + 1, "resubscribed")
            await end_call(servers.sandbox, call)
            resumed = await again.pops(2)
        return seen, resumed

    seen, resumed = asyncio.run(scenario())
    assert [_pop(f)["event"] for f in seen] == ["OFFERED", "CONNECTED"]
    # the missed VERIFIED once, then live: the call's end (no OFFERED or CONNECTED again)
    assert [_pop(f)["event"] for f in resumed] == ["VERIFIED", "ENDED"]
    assert len({f.id for f in seen + resumed}) == 4


@pytest.mark.parametrize("token", [None, "not-a-jwt"])
def test_no_valid_token_is_a_401_envelope(servers: Servers, token: str | None) -> None:
    async def scenario() -> httpx.Response:
        async with _open(servers, token) as stream:
            await stream.response.aread()
            return stream.response

    response = asyncio.run(scenario())
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("headers", "body", "status", "code"),
    [
        ({"accept": "application/json"}, {"query": POP}, 406, "BAD_REQUEST"),
        ({}, ["a", "batch"], 400, "BAD_REQUEST"),
        ({}, {"variables": {}}, 400, "BAD_REQUEST"),
        ({}, {"query": POP, "variables": "x"}, 400, "BAD_REQUEST"),
        ({"last-event-id": "bad\tcursor"}, {"query": POP}, 400, "BAD_REQUEST"),
        ({"content-type": "text/plain"}, {"query": POP}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        ({}, {"query": POP + " " * 300_000}, 413, "PAYLOAD_TOO_LARGE"),
    ],
)
def test_a_request_that_is_not_a_stream_is_refused_before_it_starts(
    servers: Servers, headers: dict[str, str], body: Any, status: int, code: str
) -> None:
    token = _token(servers, "agent-0006")
    sent = {
        "accept": "text/event-stream",
        "content-type": "application/json",
        "authorization": f"Bearer {token}",
        **headers,
    }
    response = httpx.post(servers.stream, content=json.dumps(body), headers=sent, timeout=30)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["errors"][0]["extensions"]["code"] == code


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("subscription { screenPops { nope } }", "GRAPHQL_VALIDATION_FAILED"),
        ("subscription { screenPops {", "GRAPHQL_PARSE_FAILED"),
        ("query { __typename }", None),  # only subscriptions are streamed
    ],
)
def test_graphql_errors_are_a_next_frame_then_complete(
    servers: Servers, query: str, code: str | None
) -> None:
    token = _token(servers, "agent-0006")

    async def scenario() -> tuple[int, Frame, Frame]:
        async with _open(servers, token, query=query) as stream:
            return stream.response.status_code, await stream.frame(), await stream.frame()

    status, first, last = asyncio.run(scenario())
    assert status == 200  # graphql-sse: errors before execution go through the stream
    assert first.event == "next" and first.id is None
    assert first.data["data"] is None and first.data["errors"]
    if code is not None:
        assert first.data["errors"][0]["extensions"]["code"] == code
    assert last.event == "complete"


def test_the_per_subject_cap_refuses_the_eleventh_and_frees_on_close(servers: Servers) -> None:
    token, other_token = _token(servers, "agent-0005"), _token(servers, "agent-0007")
    identity = (f"{servers.sandbox}/idp", "agent-0005")

    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        base = servers.broker.subscribers
        async with contextlib.AsyncExitStack() as stack:
            streams = [await stack.enter_async_context(_open(servers, token)) for _ in range(CAP)]
            assert all(s.response.status_code == 200 for s in streams)
            await _until(lambda: servers.broker.subscribers == base + CAP, "all subscribed")
            seen["held"] = servers.caps.held(identity)
            async with _open(servers, token) as over:
                assert over.response.status_code == 429  # before reading: a stream never ends
                await over.response.aread()
                seen["sse"] = over.response.status_code, over.response.json()
            # the same cap holds on the WebSocket (this replica, both transports)
            ws = await connect(
                servers.gateway.replace("http://", "ws://") + "/graphql",
                subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            )
            init = {"Authorization": f"Bearer {token}"}
            await ws.send(json.dumps({"type": "connection_init", "payload": init}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            subscribe = {"id": "1", "type": "subscribe", "payload": {"query": POP}}
            await ws.send(json.dumps(subscribe))
            seen["ws"] = json.loads(await asyncio.wait_for(ws.recv(), 15))
            # another agent is not affected
            async with _open(servers, other_token) as other:
                seen["other"] = other.response.status_code
            # one stream closed: room for one more, on either transport
            await streams[0].response.aclose()
            await _until(lambda: servers.caps.held(identity) == CAP - 1, "a slot freed")
            await ws.send(json.dumps({**subscribe, "id": "2"}))
            await _until(lambda: servers.caps.held(identity) == CAP, "the socket took it")
            await ws.close()  # the socket's subscription ends with it
            await _until(lambda: servers.caps.held(identity) == CAP - 1, "the socket's freed")
        await _until(lambda: servers.caps.held(identity) == 0, "all freed")
        await _until(lambda: servers.broker.subscribers == base, "no subscriber left")
        return seen

    seen = asyncio.run(scenario())
    assert seen["held"] == CAP
    status, body = seen["sse"]
    assert status == 429
    assert body["errors"][0]["extensions"]["code"] == "SUBSCRIPTION_LIMIT"
    assert seen["ws"]["type"] == "error" and seen["ws"]["id"] == "1"
    assert seen["ws"]["payload"][0]["extensions"]["code"] == "SUBSCRIPTION_LIMIT"
    assert seen["other"] == 200
    assert servers.caps.subjects == 0


def test_an_expiring_token_ends_the_stream_with_token_expired(servers: Servers) -> None:
    token = _token(servers, "agent-0008", ttl=2)
    identity = (f"{servers.sandbox}/idp", "agent-0008")

    async def scenario() -> tuple[Frame, Frame, list[str]]:
        async with _open(servers, token) as stream:
            expired, complete = await stream.frame(), await stream.frame()
            rest = await asyncio.wait_for(stream.rest(), 15)  # then the response ends
        return expired, complete, rest

    expired, complete, rest = asyncio.run(scenario())
    assert expired.event == "next"
    assert expired.data["errors"][0]["extensions"]["code"] == "TOKEN_EXPIRED"
    assert complete.event == "complete"
    assert all(line == "" or line.startswith(":") for line in rest)
    assert servers.caps.held(identity) == 0


def test_an_idle_stream_gets_keep_alive_comments(servers: Servers) -> None:
    token = _token(servers, "agent-0010")

    async def scenario() -> list[str]:
        async with _open(servers, token) as stream:
            lines = stream.response.aiter_lines()
            return [await asyncio.wait_for(anext(lines), 15) for _ in range(2)]

    assert asyncio.run(scenario()) == [": keep-alive", ""]


def test_cors_lets_an_allowed_origin_stream_and_refuses_another(servers: Servers) -> None:
    token = _token(servers, "agent-0011")
    preflight = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, last-event-id",
    }
    allowed = httpx.options(servers.stream, headers={"origin": ALLOWED, **preflight})
    refused = httpx.options(servers.stream, headers={"origin": REFUSED, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "last-event-id" in allowed.headers["access-control-allow-headers"].lower()
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers

    async def scenario(origin: str) -> httpx.Headers:
        async with _open(servers, token, headers={"origin": origin}) as stream:
            return stream.response.headers

    # the stream itself: readable by the allowed origin's page only (the browser enforces it)
    assert asyncio.run(scenario(ALLOWED))["access-control-allow-origin"] == ALLOWED
    assert "access-control-allow-origin" not in asyncio.run(scenario(REFUSED))


def test_the_socket_cap_refuses_a_sixth_subscribe_with_the_code(servers: Servers) -> None:
    token = _token(servers, "agent-0012")
    identity = (f"{servers.sandbox}/idp", "agent-0012")

    async def scenario() -> tuple[dict[str, Any], int, int]:
        ws = await connect(
            servers.gateway.replace("http://", "ws://") + "/graphql",
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        )
        init = {"Authorization": f"Bearer {token}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": init}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        for op in range(6):
            await ws.send(
                json.dumps({"id": str(op), "type": "subscribe", "payload": {"query": POP}})
            )
        refusal = json.loads(await asyncio.wait_for(ws.recv(), 15))
        held = servers.caps.held(identity)  # the refused one took no slot
        await ws.send(json.dumps({"id": "0", "type": "complete"}))
        await _until(lambda: servers.caps.held(identity) == 4, "a completed one freed")
        await ws.send(json.dumps({"id": "6", "type": "subscribe", "payload": {"query": POP}}))
        await _until(lambda: servers.caps.held(identity) == 5, "room for another")
        await ws.close()
        await _until(lambda: servers.caps.held(identity) == 0, "all freed with the socket")
        return refusal, held, servers.caps.held(identity)

    refusal, held, after = asyncio.run(scenario())
    assert refusal["type"] == "error" and refusal["id"] == "5"
    assert refusal["payload"][0]["extensions"]["code"] == "SUBSCRIPTION_LIMIT"
    assert "per socket" in refusal["payload"][0]["message"]
    assert (held, after) == (5, 0)


def test_the_stream_ends_at_expiry_even_if_a_feed_does_not() -> None:
    """The backstop: a subscription that ignores the token's expiry is ended by the SSE view
    (TOKEN_EXPIRED, then complete) and its slot given back."""

    @strawberry.type
    class Query:
        ok: bool = True

    @strawberry.type
    class Subscription:
        @strawberry.subscription
        async def silent(self) -> AsyncGenerator[int, None]:
            await asyncio.Event().wait()  # never yields, never looks at the clock
            yield 0

    caps = SubjectCaps(1)
    principal = Principal("agent-0013", frozenset({"agent"}), "iss", time.time() + 1.0)
    view = StreamView(
        strawberry.Schema(query=Query, subscription=Subscription),
        cast(Any, None),
        cast(Any, None),
        InProcessBroker(),
        caps,
        cast(Any, None),
        ServerSettings(),
        keepalive=15,
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})["principal"] = principal
        await view(scope, receive, send)

    async def scenario(url: str) -> tuple[Frame, Frame, list[str]]:
        async with (
            httpx.AsyncClient(timeout=30) as http,
            http.stream("POST", url, json={"query": "subscription { silent }"}) as response,
        ):
            stream = Stream(response)
            return await stream.frame(), await stream.frame(), await stream.rest()

    with background_server(app, lifespan="off") as url:
        expired, complete, rest = asyncio.run(scenario(url))
    assert expired.data["errors"][0]["extensions"]["code"] == "TOKEN_EXPIRED"
    assert complete.event == "complete" and rest == []
    assert caps.subjects == 0


def test_two_hundred_abrupt_disconnects_leave_no_task_subscriber_or_slot(
    servers: Servers,
) -> None:
    """The gateway runs in this test's own loop, so its tasks can be counted: 200 streams (20
    agents, 10 each) cut with a TCP reset while waiting for events leave nothing behind."""
    agents = [f"agent-01{i:02d}" for i in range(20)]
    raw = demo_config(0, int(servers.sandbox.rsplit(":", 1)[1]))
    raw["rate_limit"] = {"enabled": False}
    app = create_app(build_config(raw, env={}))
    broker: InProcessBroker = app.state.events
    caps: SubjectCaps = app.state.caps

    async def scenario() -> tuple[int, int, int, int]:
        tokens = [await mint_token(servers.sandbox, sub=a, roles=["agent"]) for a in agents]
        server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        serving = asyncio.ensure_future(server.serve(sockets=[listener]))
        try:
            await _until(lambda: server.started, "the gateway started")
            baseline = len(asyncio.all_tasks())
            writers = []
            for token in tokens * CAP:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(_raw_request("127.0.0.1", token))
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 15)
                assert head.startswith(b"HTTP/1.1 200"), head
                writers.append(writer)
            await _until(lambda: broker.subscribers == len(writers), "all subscribed")
            peak = broker.subscribers
            for writer in writers:
                writer.transport.abort()
            await _until(lambda: broker.subscribers == 0, "every subscriber gone")
            await _until(lambda: caps.subjects == 0, "every slot given back")
            await _until(lambda: len(asyncio.all_tasks()) <= baseline, "every task ended")
            return peak, broker.subscribers, caps.subjects, len(asyncio.all_tasks()) - baseline
        finally:
            server.should_exit = True
            await serving
            listener.close()

    assert asyncio.run(scenario()) == (200, 0, 0, 0)


def _raw_request(host: str, token: str) -> bytes:
    body = json.dumps({"query": POP}).encode()
    return (
        f"POST /graphql/stream HTTP/1.1\r\nhost: {host}\r\naccept: text/event-stream\r\n"
        f"content-type: application/json\r\nauthorization: Bearer {token}\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body
