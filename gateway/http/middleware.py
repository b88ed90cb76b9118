"""ASGI middleware, one concern each, declared with Starlette's `Middleware` in
gateway/app.py: around every route `RequestId` and `ErrorEnvelope` (one JSON shape for every
refusal, gateway/http/refusals.py); on the GraphQL route `BearerAuth` (who), `RateLimit` (how
often) and `RequireJson` (no form posts), in that order."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.auth.authenticator import Authenticator, InvalidToken, Principal
from gateway.http.refusals import header, refuse, request_id_of
from gateway.limits.ratelimit import RateLimiter, RateLimitSettings
from gateway.observability import codes

__all__ = ["BearerAuth", "ErrorEnvelope", "RateLimit", "RequestId", "RequireJson"]

log = logging.getLogger("switchboard.auth")
errors_log = logging.getLogger("switchboard.errors")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def new_request_id() -> str:
    """A version-4 UUID in hex, as `uuid.uuid4().hex` makes it, without the UUID object
    (~2 -> ~0.6 us): fresh random bytes per id, so no pool to share between threads or to
    forget in a forked worker."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 4122 variant
    return raw.hex()


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
        given = header(scope, b"x-request-id")
        client_id = given if given and _REQUEST_ID.fullmatch(given) else None
        request_id = new_request_id()
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
    """Authentication, and nothing else: every GraphQL request needs a valid bearer JWT; its
    `Principal` goes into the scope's state for what follows (`RateLimit`, the view). Only the
    GraphiQL page itself (a GET for text/html without a query) is served without one, and only
    when GraphiQL is on.

    Fail closed: a websocket is refused (closed before it is accepted: a socket must not get
    past authentication unchecked; subscriptions have their own route, whose view checks the
    token in `connection_init`); any other scope type is an error. A refused token is logged
    with its reason and the request id, never the token; `describe` (the development profile)
    also tells the client the reason."""

    def __init__(
        self, app: ASGIApp, authenticator: Authenticator, *, ide: bool, describe: bool = False
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.ide = ide
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
        request_id = request_id_of(scope)
        authorization = header(scope, b"authorization")
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
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    def _is_ide_page(self, scope: Scope) -> bool:
        return (
            self.ide
            and scope["method"] == "GET"
            and b"query=" not in scope.get("query_string", b"")
            and "text/html" in (header(scope, b"accept") or "")
        )


class RateLimit:
    """Per caller (issuer, subject: a partner's `sub` is not our agent's), the rate limit of the
    caller's roles; over it, a 429 with Retry-After. Sits inside `BearerAuth`: a request without
    a principal (the GraphiQL page) is not counted."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, limits: RateLimitSettings) -> None:
        self.app = app
        self.limiter = limiter
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal: Principal | None = scope.get("state", {}).get("principal")
        if scope["type"] == "http" and principal is not None:
            issuer, subject = principal.identity
            wait = await self.limiter.acquire(
                issuer, subject, self.limits.rule_for(principal.roles)
            )
            if wait is not None:
                await refuse(
                    send,
                    429,
                    "rate limited",
                    codes.RATE_LIMITED,
                    request_id_of(scope),
                    retry_after=wait,
                )
                return
        await self.app(scope, receive, send)


class RequireJson:
    """A POST carries its operation as JSON: no form posts, so no cross-site request forgery
    through a plain HTML form (a 415 otherwise)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and not _json_body(header(scope, b"content-type"))
        ):
            await refuse(
                send,
                415,
                "send the operation as application/json",
                codes.UNSUPPORTED_MEDIA_TYPE,
                request_id_of(scope),
            )
            return
        await self.app(scope, receive, send)


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
        request_id = request_id_of(scope)
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
