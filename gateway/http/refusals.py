"""The one JSON shape of every refusal, `{"errors": [{"message", "extensions": {"code",
"requestId"}}], "extensions": {"requestId"}}`, and the scope helpers the middleware share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from starlette.types import Scope, Send

from gateway.limits.ratelimit import retry_after_header

__all__ = ["envelope", "header", "refuse", "request_id_of"]


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


def request_id_of(scope: Scope) -> str:
    """The id a refusal names: the one the response echoes (the caller's, if it sent one)."""
    state = scope.get("state", {})
    request_id: str = state.get("client_request_id") or state.get("request_id", "")
    return request_id


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None
