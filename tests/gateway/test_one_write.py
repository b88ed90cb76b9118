"""A response of known length leaves in one write (issue #18, round 5): uvicorn wrote the
status line and headers at the response start and the body after, two segments and two
wake-ups of the client per answer. A streamed response still shows its start at once, a body-
less one (HEAD, 204) is not held, and a response cut short still sends what it started."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.server import ServerState

from gateway.config import ServerSettings
from gateway.http.serving import public_config


class Recording(asyncio.Transport):
    """A connection's transport: what was written, one entry per system call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[bytes] = []
        self.closed = False
        self.protocol: Any = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.calls.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        self.calls.append(b"".join(list_of_data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 5000)}.get(name)

    def get_protocol(self) -> Any:
        return self.protocol

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    path = scope["path"]
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"one", "more_body": True})
        await send({"type": "http.response.body", "body": b"two"})
        return
    length = [(b"content-length", b"11"), (b"content-type", b"application/json")]
    status = 204 if path == "/none" else 200
    headers = [] if status == 204 else length
    await send({"type": "http.response.start", "status": status, "headers": headers})
    if path == "/cut":
        raise RuntimeError("the answer failed half-way")
    await send({"type": "http.response.body", "body": b'{"data":{}}' if status == 200 else b""})


async def _serve(request: bytes) -> Recording:
    config = public_config(app, ServerSettings(), lifespan="off", log_level="critical")
    config.load()
    transport = Recording()
    state = ServerState()
    protocol = config.http_protocol_class(  # type: ignore[call-arg]
        config=config, server_state=state, app_state={}
    )
    transport.protocol = protocol
    protocol.connection_made(transport)
    protocol.data_received(request)
    for _ in range(100):
        await asyncio.sleep(0)
        if not state.tasks:
            break
    protocol.connection_lost(None)
    return transport


def _request(method: str, path: str) -> bytes:
    return f"{method} {path} HTTP/1.1\r\nhost: gw\r\ncontent-length: 0\r\n\r\n".encode()


async def test_an_answer_of_known_length_leaves_in_one_write() -> None:
    transport = await _serve(_request("POST", "/graphql"))
    assert len(transport.calls) == 1
    (written,) = transport.calls
    assert written.startswith(b"HTTP/1.1 200 OK\r\n") and written.endswith(b'\r\n\r\n{"data":{}}')


async def test_a_streamed_answer_shows_its_start_before_its_body() -> None:
    transport = await _serve(_request("POST", "/stream"))
    assert transport.calls[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.calls[0].endswith(b"transfer-encoding: chunked\r\n\r\n")
    assert transport.calls[1:] == [b"3\r\none\r\n", b"3\r\ntwo\r\n0\r\n\r\n"]


async def test_answers_without_a_body_are_not_held() -> None:
    head = await _serve(_request("HEAD", "/graphql"))
    assert len(head.calls) == 1 and head.calls[0].startswith(b"HTTP/1.1 200 OK\r\n")
    empty = await _serve(_request("POST", "/none"))
    assert empty.calls[0].startswith(b"HTTP/1.1 204 ") and empty.calls[0].endswith(b"\r\n\r\n")
    assert b"".join(empty.calls[1:]) == b""


async def test_an_answer_cut_short_still_sends_its_start_and_closes() -> None:
    transport = await _serve(_request("POST", "/cut"))
    assert transport.closed
    assert [call[:17] for call in transport.calls] == [b"HTTP/1.1 200 OK\r\n"]


def test_the_public_server_uses_the_protocol() -> None:
    config = public_config(app, ServerSettings(), lifespan="off")
    config.load()
    assert isinstance(config, uvicorn.Config)
    assert config.http_protocol_class.__name__ == "HeaderTimeoutProtocol"
