"""The flat projection's own logic, without a server: the STRING_MAP shape, and the phone kept
out of the access log."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.utils import get_path_with_query_string

from gateway.routing import RoutingEndpoint, flatten


def test_flatten_gives_strings_only_and_leaves_nulls_out() -> None:
    flat = flatten(
        {
            "matches": 2,
            "customerId": None,
            "escalatedCase": False,
            "needsSpecialist": True,
            "degraded": ["CORE", "CCAAS"],
            "queue": "General",
        }
    )
    assert flat == {
        "matches": "2",
        "escalatedCase": "false",
        "needsSpecialist": "true",
        "degraded": "CORE,CCAAS",
        "queue": "General",
    }
    assert flatten({"degraded": []}) == {"degraded": ""}


async def test_the_phone_never_reaches_the_access_log() -> None:
    """uvicorn's access line is `get_path_with_query_string(scope)` of the request's scope,
    written when the response starts."""
    logged: list[str] = []
    asked: list[dict[str, Any]] = []

    async def view(scope: Scope, receive: Receive, send: Send) -> None:
        asked.append(orjson.loads((await receive())["body"]))
        body = orjson.dumps({"data": {"routingContext": {"matches": 0, "degraded": []}}})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    endpoint = RoutingEndpoint(view)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})["principal"] = object()
        scope["state"]["request_id"] = "r1"

        async def logging_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                logged.append(get_path_with_query_string(scope))  # type: ignore[arg-type]
            await send(message)

        await endpoint(scope, receive, logging_send)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
        response = await http.get("/routing/v1/context", params={"phone": "+14915559486"})
    assert response.json() == {"matches": "0", "degraded": ""}
    assert asked[0]["variables"] == {"phone": "+14915559486"}
    assert logged == ["/routing/v1/context"]
