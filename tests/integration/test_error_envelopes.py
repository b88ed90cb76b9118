"""Every non-200 answer of /graphql is the gateway's JSON envelope (issue #11 item 11), over real
sockets: `errors[0].extensions.code` from the registry and `requestId` (in the error and in the
top-level extensions) equal to the X-Request-Id header, whichever layer refused: Starlette (405,
413), BearerAuth (401, 415, 429) or strawberry (400s)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.config import build_config
from gateway.demo import demo_config
from gateway.observability.codes import CODES
from sources.sandbox.client import mint_token
from sources.sandbox.server import background_server

from .conftest import Gateway

JSON = {"content-type": "application/json"}


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    error = body["errors"][0]
    assert error["extensions"]["code"] == code and code in CODES
    assert isinstance(error["message"], str) and error["message"]
    request_id = response.headers["x-request-id"]
    assert error["extensions"]["requestId"] == request_id
    assert body["extensions"]["requestId"] == request_id
    return body


async def send(
    url: str,
    method: str,
    *,
    token: str | None,
    content: bytes = b"",
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    path: str = "/graphql",
) -> httpx.Response:
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        return await http.request(method, path, content=content, headers=all_headers, params=params)


@pytest.mark.parametrize(
    ("case", "method", "content", "headers", "params"),
    [
        ("bad JSON", "POST", b'{"query": ', JSON, None),
        ("no query", "POST", b"{}", JSON, None),
        ("query not a string", "POST", b'{"query": 7}', JSON, None),
        ("a batch", "POST", b'[{"query": "{ __typename }"}]', JSON, None),
        ("GET with a query", "GET", b"", None, {"query": "{ __typename }"}),
    ],
)
async def test_400s_are_json(
    gateway: Gateway,
    case: str,
    method: str,
    content: bytes,
    headers: dict[str, str] | None,
    params: dict[str, str] | None,
) -> None:
    response = await send(
        gateway.url, method, token=gateway.token, content=content, headers=headers, params=params
    )
    assert_envelope(response, 400, "BAD_REQUEST")


@pytest.mark.parametrize("token", [None, "not.a.token"])
async def test_401s_are_json(gateway: Gateway, token: str | None) -> None:
    response = await send(gateway.url, "POST", token=token, content=b"{}", headers=JSON)
    body = assert_envelope(response, 401, "UNAUTHENTICATED")
    assert body["errors"][0]["message"] == "invalid token"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_the_request_id_sent_is_the_one_answered(gateway: Gateway) -> None:
    response = await send(
        gateway.url, "POST", token=None, content=b"{}", headers={**JSON, "x-request-id": "abc-1"}
    )
    assert assert_envelope(response, 401, "UNAUTHENTICATED")["extensions"]["requestId"] == "abc-1"


@pytest.mark.parametrize("token", [True, False])
async def test_413_is_json(gateway: Gateway, token: bool) -> None:
    """With a token the body is read and cut; without one the 401 is replaced by the 413."""
    big = b'{"query": "{ __typename }", "pad": "' + b"x" * 300_000 + b'"}'
    response = await send(
        gateway.url, "POST", token=gateway.token if token else None, content=big, headers=JSON
    )
    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")


async def test_415_is_json(gateway: Gateway) -> None:
    response = await send(
        gateway.url,
        "POST",
        token=gateway.token,
        content=b"query={__typename}",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_405_is_json(gateway: Gateway, method: str) -> None:
    response = await send(gateway.url, method, token=gateway.token, content=b"{}", headers=JSON)
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")


async def test_404_is_json(gateway: Gateway) -> None:
    response = await send(gateway.url, "GET", token=None, path="/nowhere")
    assert_envelope(response, 404, "NOT_FOUND")


async def test_a_json_error_answer_is_left_alone(gateway: Gateway) -> None:
    response = await send(gateway.url, "GET", token=None, path="/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


ORIGIN = "https://desktop.example.com"


@pytest.fixture(scope="module")
def metered(sandbox_url: str) -> Iterator[tuple[str, str]]:
    """A production-profile gateway whose callers get a burst of two requests, with CORS."""
    raw = demo_config(0, int(sandbox_url.rsplit(":", 1)[1]))
    raw["server"]["profile"] = "production"
    raw["server"]["cors_origins"] = [ORIGIN]
    raw["rate_limit"] = {"rate": 0.01, "burst": 2}
    with background_server(create_app(build_config(raw, env={})), lifespan="on") as url:
        yield url, asyncio.run(mint_token(sandbox_url, sub="metered-1", roles=["agent"]))


async def test_429_is_json_with_retry_after(metered: tuple[str, str]) -> None:
    url, token = metered
    payload = b'{"query": "{ __typename }"}'
    statuses = [
        (await send(url, "POST", token=token, content=payload, headers=JSON)).status_code
        for _ in range(2)
    ]
    assert statuses == [200, 200]
    response = await send(url, "POST", token=token, content=payload, headers=JSON)
    assert_envelope(response, 429, "RATE_LIMITED")
    assert int(response.headers["retry-after"]) >= 1


async def test_production_401_says_nothing_more(metered: tuple[str, str]) -> None:
    url, token = metered
    response = await send(url, "POST", token=token[:-4] + "AAAA", content=b"{}", headers=JSON)
    body = assert_envelope(response, 401, "UNAUTHENTICATED")
    assert set(body["errors"][0]["extensions"]) == {"code", "requestId"}
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_the_development_profile_says_why(gateway: Gateway) -> None:
    expired = await mint_token(gateway.sandbox, sub="agent-0001", roles=["agent"], ttl=-3600)
    response = await send(gateway.url, "POST", token=expired, content=b"{}", headers=JSON)
    body = assert_envelope(response, 401, "UNAUTHENTICATED")
    assert body["errors"][0]["extensions"]["error_description"] == "expired"


async def test_a_refused_cors_preflight_is_json(metered: tuple[str, str]) -> None:
    url, _ = metered
    preflight = {"origin": "https://evil.example", "access-control-request-method": "POST"}
    response = await send(url, "OPTIONS", token=None, headers=preflight)
    assert_envelope(response, 400, "BAD_REQUEST")


async def test_a_refusal_to_an_allowed_origin_keeps_its_cors_headers(
    metered: tuple[str, str],
) -> None:
    url, _ = metered
    response = await send(
        url, "POST", token=None, content=b"{}", headers={**JSON, "origin": ORIGIN}
    )
    assert_envelope(response, 401, "UNAUTHENTICATED")
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in response.headers["access-control-expose-headers"]
