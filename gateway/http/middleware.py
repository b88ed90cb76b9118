"""ASGI middleware: request ids and one JSON shape for every refusal (around every route), and
bearer authentication (around the GraphQL endpoint)."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.auth.authenticator import Authenticator, InvalidToken
from gateway.limits.ratelimit import RateLimiter, RateLimitSettings, retry_after_header
from gateway.observability import codes

__all__ = ["BearerAuth", "ErrorEnvelope", "RequestId", "envelope", "refuse"]

log = logging.getLogger("switchboard.auth")
errors_log = logging.getLogger("switchboard.errors")

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
    caller (issuer, subject), the rate limit; then, for POST, a JSON content type (no form
    posts: CSRF).

    Fail closed: a websocket is refused (closed before it is accepted: the gateway serves no
    subscriptions, and a socket must not get past authentication unchecked); any other scope
    type is an error. A refused token is logged with its reason and the request id, never the
    token; `describe` (the development profile) also tells the client the reason."""

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        *,
        ide: bool,
        limiter: RateLimiter | None = None,
        limits: RateLimitSettings | None = None,
        describe: bool = False,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.ide = ide
        self.limiter = limiter
        self.limits = limits
        self.describe = describe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await _refuse_websocket(receive, send)
            return
        if scope["type"] != "http":
            raise RuntimeError(f"BearerAuth cannot serve a {scope['type']!r} scope")
        if self._is_ide_page(scope):
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        authorization = _header(scope, b"authorization")
        try:
            principal = await self.authenticator.authenticate(authorization)
        except InvalidToken as exc:
            log.info("401 request_id=%s reason=%s", request_id, exc.reason)
            await _unauthorized(
                send,
                request_id,
                has_credentials=authorization is not None,
                reason=exc.reason if self.describe else None,
            )
            return
        if self.limiter is not None and self.limits is not None:
            issuer, subject = principal.identity  # a partner's `sub` is not our agent's
            wait = await self.limiter.acquire(
                issuer, subject, self.limits.rule_for(principal.roles)
            )
            if wait is not None:
                await refuse(
                    send, 429, "rate limited", codes.RATE_LIMITED, request_id, retry_after=wait
                )
                return
        if scope["method"] == "POST" and not _json_body(_header(scope, b"content-type")):
            await refuse(
                send,
                415,
                "send the operation as application/json",
                codes.UNSUPPORTED_MEDIA_TYPE,
                request_id,
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


class ErrorEnvelope:
    """Every error answer in the gateway's JSON shape,
    `{"errors": [{"message", "extensions": {"code", "requestId"}}], "extensions": {"requestId"}}`,
    whoever gave it: strawberry answers its refusals (bad JSON, no query, a batch, a GET with a
    query) and Starlette its 404, 405, 413 and refused CORS preflights in plain text; an
    unexpected exception becomes a logged 500 `INTERNAL`. JSON answers (the GraphQL responses,
    /ready's 503) pass untouched. Sits inside `RequestId`, around everything else."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        started = False
        held: Message | None = None  # a plain-text error's start, replaced once its body ends
        text = b""

        async def send_json(message: Message) -> None:
            nonlocal started, held, text
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                if status >= 400 and not _is_json(message.get("headers", [])):
                    held = message
                    return
            elif held is not None and message["type"] == "http.response.body":
                text = (text + message.get("body", b""))[:4096]
                if message.get("more_body", False):
                    return
                status = int(held["status"])
                kept = [
                    (k, v)
                    for k, v in held.get("headers", [])
                    if k.lower() not in (b"content-type", b"content-length")
                ]
                reason = text.decode("utf-8", "replace").strip()[:200] or "refused"
                await refuse(
                    send, status, reason, codes.code_for_status(status), request_id, headers=kept
                )
                held = None
                return
            await send(message)

        try:
            await self.app(scope, receive, send_json)
        except HTTPException as exc:  # Starlette's, raised below and not answered
            if started:
                raise
            await refuse(
                send,
                exc.status_code,
                exc.detail,
                codes.code_for_status(exc.status_code),
                request_id,
            )
        except Exception:
            errors_log.error("internal error request_id=%s", request_id, exc_info=True)
            if started:
                raise
            await refuse(send, 500, "internal error", codes.INTERNAL, request_id)


def _is_json(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    for key, value in headers:
        if key.lower() == b"content-type":
            return value.split(b";", 1)[0].strip().lower().endswith(b"json")
    return False


def _json_body(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in ("application/json", "application/graphql-response+json")


def envelope(
    message: str, code: str, request_id: str, extensions: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The body of every non-200 answer (and of nothing else)."""
    error = {
        "message": message,
        "extensions": {"code": code, "requestId": request_id, **(extensions or {})},
    }
    return {"errors": [error], "extensions": {"requestId": request_id}}


async def refuse(
    send: Send,
    status: int,
    message: str,
    code: str,
    request_id: str,
    *,
    retry_after: float | None = None,
    headers: Iterable[tuple[bytes, bytes]] = (),
    extensions: Mapping[str, str] | None = None,
) -> None:
    body = orjson.dumps(envelope(message, code, request_id, extensions))
    all_headers = [
        *headers,
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if retry_after is not None:
        all_headers.append((b"retry-after", retry_after_header(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


async def _unauthorized(
    send: Send, request_id: str, *, has_credentials: bool, reason: str | None
) -> None:
    # RFC 6750 3.1: no error code when the request carried no credentials at all.
    challenge = b'Bearer error="invalid_token"' if has_credentials else b"Bearer"
    # development profile only, in the body (the challenge is the same in every profile)
    described = {"error_description": reason} if reason is not None and has_credentials else {}
    await refuse(
        send,
        401,
        "invalid token",
        codes.UNAUTHENTICATED,
        request_id,
        headers=[(b"www-authenticate", challenge)],
        extensions=described,
    )


async def _refuse_websocket(receive: Receive, send: Send) -> None:
    """Close before accepting (the server answers the handshake with 403)."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": 1008})


def _request_id(scope: Scope) -> str:
    """The id a refusal names: the one the response echoes (the caller's, if it sent one)."""
    state = scope.get("state", {})
    request_id: str = state.get("client_request_id") or state.get("request_id", "")
    return request_id


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None
