"""ASGI middleware around the GraphQL endpoint: request ids and bearer authentication."""

from __future__ import annotations

import re
import uuid

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import Authenticator, InvalidToken

__all__ = ["BearerAuth", "RequestId"]

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestId:
    """Take a well-formed X-Request-Id from the caller or mint one; echo it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


class BearerAuth:
    """Every GraphQL request needs a valid bearer JWT; only the GraphiQL page itself (a GET for
    text/html without a query) is served without one, and only when GraphiQL is on."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator, *, ide: bool) -> None:
        self.app = app
        self.authenticator = authenticator
        self.ide = ide

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_ide_page(scope):
            await self.app(scope, receive, send)
            return
        try:
            principal = await self.authenticator.authenticate(_header(scope, b"authorization"))
        except InvalidToken:
            await _unauthorized(send, has_credentials=_header(scope, b"authorization") is not None)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    def _is_ide_page(self, scope: Scope) -> bool:
        return (
            self.ide
            and scope["method"] == "GET"
            and b"query=" not in scope.get("query_string", b"")
            and "text/html" in (_header(scope, b"accept") or "")
        )


async def _unauthorized(send: Send, *, has_credentials: bool) -> None:
    # RFC 6750 3.1: no error code when the request carried no credentials at all.
    challenge = b'Bearer error="invalid_token"' if has_credentials else b"Bearer"
    body = orjson.dumps(
        {"errors": [{"message": "invalid token", "extensions": {"code": "UNAUTHENTICATED"}}]}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", challenge),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None
