"""The thin road reads the request body itself (gateway/http/fastpath.py `_body`): the same
bytes and the same disconnect as Starlette's `Request.body()`, kept on the request so that the
view, when it answers instead, reads them again."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message

from gateway.http.fastpath import _body


def _receiver(messages: list[Message]) -> Any:
    queue = list(messages)

    async def receive() -> Message:
        return queue.pop(0)

    return receive


def _request(receive: Any) -> Request:
    return Request({"type": "http", "method": "POST", "headers": []}, receive)


@pytest.mark.parametrize(
    "messages",
    [
        [{"type": "http.request", "body": b'{"query": "{ a }"}'}],
        [
            {"type": "http.request", "body": b'{"query": ', "more_body": True},
            {"type": "http.request", "body": b"", "more_body": True},
            {"type": "http.request", "body": b'"{ a }"}', "more_body": False},
        ],
        [{"type": "http.request", "more_body": False}],
    ],
    ids=["one-message", "in-pieces", "empty"],
)
async def test_the_body_is_starlettes_and_stays_on_the_request(messages: list[Message]) -> None:
    expected = await _request(_receiver(messages)).body()
    request = _request(_receiver(messages))
    assert await _body(request, request.receive) == expected
    # read again (the view's road): the same bytes, without touching `receive`
    assert await request.body() == expected
    assert b"".join([chunk async for chunk in request.stream()]) == expected


async def test_a_client_gone_while_the_body_comes_is_starlettes_disconnect() -> None:
    messages: list[Message] = [
        {"type": "http.request", "body": b"{", "more_body": True},
        {"type": "http.disconnect"},
    ]
    request = _request(_receiver(messages))
    with pytest.raises(ClientDisconnect):
        await _body(request, request.receive)
    assert await request.is_disconnected()
