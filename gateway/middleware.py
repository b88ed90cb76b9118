"""ASGI middleware around the GraphQL endpoint: request ids and bearer authentication."""

from __future__ import annotations

import re
import uuid

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import Authenticator, InvalidToken
from .ratelimit import RateLimiter, RateLimitSettings, retry_after_header

__all__ = ["BearerAuth", "RequestId"]

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestId:
    """Mint the request's own id (the audit trail's `requestId`: never the caller's); keep a
    well-formed X-Request-Id from the caller as its client id (`clientRequestId`). The response
    echoes the caller's id when given, else the minted one, in the X-Request-Id header and
    `extensions.requestId`, as clients correlating by their own id expect."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        client_id = given if given and _REQUEST_ID.fullmatch(given) else None
        request_id = uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["client_request_id"] = client_id
        echoed = (client_id or request_id).encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", echoed))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


class BearerAuth:
    """Every GraphQL request needs a valid bearer JWT; only the GraphiQL page itself (a GET for
    text/html without a query) is served without one, and only when GraphiQL is on. Then, per
    subject, the rate limit; then, for POST, a JSON content type (no form posts: CSRF)."""

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        *,
        ide: bool,
        limiter: RateLimiter | None = None,
        limits: RateLimitSettings | None = None,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.ide = ide
        self.limiter = limiter
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_ide_page(scope):
            await self.app(scope, receive, send)
            return
        try:
            principal = await self.authenticator.authenticate(_header(scope, b"authorization"))
        except InvalidToken:
            await _unauthorized(send, has_credentials=_header(scope, b"authorization") is not None)
            return
        if self.limiter is not None and self.limits is not None:
            wait = await self.limiter.acquire(
                principal.subject, self.limits.rule_for(principal.roles)
            )
            if wait is not None:
                await _refuse(send, 429, "rate limited", "RATE_LIMITED", retry_after=wait)
                return
        if scope["method"] == "POST" and not _json_body(_header(scope, b"content-type")):
            await _refuse(
                send, 415, "send the operation as application/json", "UNSUPPORTED_MEDIA_TYPE"
            )
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


def _json_body(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in ("application/json", "application/graphql-response+json")


async def _refuse(
    send: Send, status: int, message: str, code: str, retry_after: float | None = None
) -> None:
    body = orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if retry_after is not None:
        headers.append((b"retry-after", retry_after_header(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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
