"""`GET /routing/v1/context?phone=...` (or `customerId=`, `interactionId=`): the routing
context as a flat string-to-string JSON map, the shape Amazon Connect's Lambda function block
(`STRING_MAP`) and its HTTP data-direct integrations take.

One semantics: the request runs the registered `RoutingContext` operation through the GraphQL
view itself, as its own HTTP request — the same authentication (the bearer token, checked by
the route's `BearerAuth`), rate limit (`RateLimit`), trusted-document check, lookup limits, data
budget, masking, audit and deadline — and only the answer's shape differs:

- every value is a string; booleans "true"/"false"; numbers in decimal;
- `degraded` is the systems joined by "," ("" when every system answered), always present;
- a null value (unknown, or not applicable: several matches) is left out, so a flow's "Check
  contact attributes" block takes its "No match" branch.

A refusal keeps the gateway's JSON envelope and an HTTP status a flow can branch on (400 bad
input, 401, 403, 429 with Retry-After, 503).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.http.refusals import refuse, request_id_of
from gateway.observability import codes

__all__ = ["PATH", "ROUTING_DOCUMENT", "RoutingEndpoint", "flatten"]

PATH = "/routing/v1/context"

ROUTING_DOCUMENT = (
    "query RoutingContext($phone: String, $customerId: ID, $interactionId: ID) { "
    "routingContext(phone: $phone, customerId: $customerId, interactionId: $interactionId) { "
    "matches customerId segment preferredLanguage openCases escalatedCase repeatContact "
    "repeatIntent needsSpecialist priority queue reason rule degraded } }"
)
"""Registered in docs/trusted-documents.json (a test holds them equal): the `ivr` role runs
registered operations only."""

_PARAMETERS = ("phone", "customerId", "interactionId")
_MAX_PARAMETER = 64
_FORWARDED = (b"x-request-timeout-ms", b"x-interaction-id", b"traceparent")
"""Request headers the inner GraphQL request keeps (the principal and request ids are already in
the scope's state; `traceparent`: the operation's span continues the contact flow's trace)."""

BAD_USER_INPUT = "BAD_USER_INPUT"
"""resolvers' BadUserInput.code (registered in gateway/observability/codes.py)."""

_STATUS = {
    BAD_USER_INPUT: 400,
    codes.FORBIDDEN: 403,
    codes.PERSISTED_QUERY_NOT_FOUND: 403,
    codes.LOOKUP_LIMIT: 429,
    codes.AUDIT_UNAVAILABLE: 503,
}


def flatten(context: dict[str, Any]) -> dict[str, str]:
    """The STRING_MAP projection of a `routingContext` answer (module docstring)."""
    flat: dict[str, str] = {}
    for key, value in context.items():
        if isinstance(value, list):
            flat[key] = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            flat[key] = "true" if value else "false"
        elif value is not None:
            flat[key] = str(value)
    return flat


class RoutingEndpoint:
    """The route's ASGI app, behind `BearerAuth` and `RateLimit`; `view` is the GraphQL view."""

    def __init__(self, view: ASGIApp) -> None:
        self.view = view

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = request_id_of(scope)
        if scope.get("state", {}).get("principal") is None:
            await refuse(send, 401, "invalid token", codes.UNAUTHENTICATED, request_id)
            return
        query = scope.get("query_string", b"")
        # the key is a phone number: the server's access log writes the path and the query
        # string of the request's scope when the response starts; this request's own scope
        # keeps neither (no PII in logs)
        scope["query_string"] = b""
        variables = _variables(query)
        if isinstance(variables, str):
            await refuse(send, 400, variables, BAD_USER_INPUT, request_id)
            return
        body = orjson.dumps(
            {"query": ROUTING_DOCUMENT, "operationName": "RoutingContext", "variables": variables}
        )
        kept = [(k, v) for k, v in scope.get("headers", []) if k in _FORWARDED]
        inner = {
            **scope,
            "method": "POST",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "headers": [
                *kept,
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
        answer = _Captured()
        await self.view(inner, _body_then(body, receive), answer.send)
        await self._reply(send, answer, request_id)

    async def _reply(self, send: Send, answer: _Captured, request_id: str) -> None:
        if answer.status != 200:  # the view's own refusals are already the envelope
            await send(
                {"type": "http.response.start", "status": answer.status, "headers": answer.headers}
            )
            await send({"type": "http.response.body", "body": answer.body})
            return
        payload = orjson.loads(answer.body)
        context = (payload.get("data") or {}).get("routingContext")
        if isinstance(context, dict):
            body = orjson.dumps(flatten(context))
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        errors = payload.get("errors") or [{}]
        extensions = errors[0].get("extensions") or {}
        code = str(extensions.get("code") or codes.INTERNAL)
        message = str(errors[0].get("message") or "internal error")
        retry = extensions.get("retryAfter")
        await refuse(
            send,
            _STATUS.get(code, 502 if code.startswith("SOURCE_") else 500),
            message,
            code,
            request_id,
            retry_after=float(retry) if isinstance(retry, int | float) else None,
        )


def _variables(query_string: bytes) -> dict[str, str] | str:
    """The one key as GraphQL variables, or what is wrong with the query string."""
    try:
        pairs = parse_qsl(
            query_string.decode("ascii"), keep_blank_values=True, strict_parsing=bool(query_string)
        )
    except (UnicodeDecodeError, ValueError):
        return "malformed query string"
    names = [name for name, _ in pairs]
    unknown = sorted(set(names) - set(_PARAMETERS))
    if unknown:
        return f"unknown parameter(s): {', '.join(unknown)}; give one of {', '.join(_PARAMETERS)}"
    if len(pairs) != 1:
        return f"give exactly one of {', '.join(_PARAMETERS)}"
    name, value = pairs[0]
    if not value or len(value) > _MAX_PARAMETER:
        return f"{name} must be 1-{_MAX_PARAMETER} characters"
    if name == "phone" and value.startswith(" "):
        # `phone=+1555...` sent without encoding: the `+` of E.164 arrives as a space
        value = "+" + value[1:]
    return {name: value}


class _Captured:
    """The inner GraphQL response, held until it is reshaped."""

    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")


def _body_then(body: bytes, receive: Receive) -> Receive:
    """The inner request's body once; then the client's disconnect, whenever it comes (the
    GET's own empty body is skipped)."""
    sent = False

    async def inner() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return message

    return inner
