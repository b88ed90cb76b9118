"""The thin road reads the request body itself (gateway/http/fastpath.py `_body`): the same
bytes and the same disconnect as Starlette's `Request.body()`, kept on the request so that the
view, when it answers instead, reads them again; the view's sub-response is strawberry's; and
the deadline a client asks for, read from the raw header."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message
from strawberry.asgi import GraphQL

from gateway.config import ServerSettings
from gateway.http.fastpath import _body
from gateway.http.view import GraphQLView


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


async def test_the_sub_response_is_strawberrys() -> None:
    """GraphQLView.get_sub_response makes what strawberry's makes (no status, no headers,
    no body, no background): what resolvers set on it is all the answer gets from it."""
    request = _request(_receiver([]))
    ours = await GraphQLView.get_sub_response(cast(GraphQLView, None), request)
    theirs = await GraphQL.get_sub_response(cast(GraphQL[None, None], None), request)
    for sub in (ours, theirs):
        assert sub.status_code is None
        assert sub.headers.raw == []
        assert sub.body == b""
        assert sub.background is None
    ours.headers["x-set"] = "1"
    assert ours.raw_headers == [(b"x-set", b"1")]


@pytest.mark.parametrize(
    ("asked", "seconds"),
    [(None, 2.0), (b"250", 0.25), (b"0", 2.0), (b"5000", 2.0), (b"12a", 2.0), (b"\xb2", 2.0)],
    ids=["none", "shorter", "zero", "longer", "not-a-number", "superscript-two"],
)
def test_the_deadline_a_client_asks_for(asked: bytes | None, seconds: float) -> None:
    """X-Request-Timeout-Ms shortens the configured deadline, never lengthens it; anything
    but ASCII digits is ignored (latin-1 "²" is a digit to `str.isdigit`, not to `int`)."""
    view = cast(GraphQLView, SimpleNamespace(server=ServerSettings(deadline_seconds=2.0)))
    assert GraphQLView._deadline(view, asked) == seconds
