"""The transport seam maps every failure to a typed SourceError that names no URL."""

from __future__ import annotations

import httpx
import pytest

from sources import (
    SourceBadResponse,
    SourceRateLimited,
    SourceSettings,
    SourceTimeout,
    SourceUnavailable,
    Transport,
)

BASE = "http://core.internal.example:9000/core"


def transport(handler: httpx.MockTransport, **settings: object) -> Transport:
    return Transport(SourceSettings(name="core", base_url=BASE, **settings), mock=handler)  # type: ignore[arg-type]


def raising(exc: Exception) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return httpx.MockTransport(handler)


def answering(status: int, body: bytes = b"{}", **headers: str) -> httpx.MockTransport:
    return httpx.MockTransport(
        lambda request: httpx.Response(status, content=body, headers=headers)
    )


async def test_transport_get_json_sends_repeated_params_under_base_path() -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, json={"ok": True})

    t = transport(httpx.MockTransport(handler))
    assert await t.get_json("/accounts", [("partyId", "a b"), ("partyId", "c&d")]) == {"ok": True}
    assert seen[0].path == "/core/accounts"
    assert seen[0].params.get_list("partyId") == ["a b", "c&d"]
    await t.aclose()


@pytest.mark.parametrize(
    ("mock", "error", "code"),
    [
        (raising(httpx.ConnectError("refused")), SourceUnavailable, "SOURCE_UNAVAILABLE"),
        (raising(httpx.RemoteProtocolError("dropped")), SourceUnavailable, "SOURCE_UNAVAILABLE"),
        (raising(httpx.ReadTimeout("slow")), SourceTimeout, "SOURCE_TIMEOUT"),
        (raising(httpx.PoolTimeout("queued")), SourceTimeout, "SOURCE_TIMEOUT"),
        (answering(503), SourceUnavailable, "SOURCE_UNAVAILABLE"),
        (answering(500, b"Traceback at db01.internal"), SourceUnavailable, "SOURCE_UNAVAILABLE"),
        (answering(400, b'{"error": "bad"}'), SourceBadResponse, "SOURCE_BAD_RESPONSE"),
        (answering(404), SourceBadResponse, "SOURCE_BAD_RESPONSE"),
        (answering(200, b'{"Data": [tru'), SourceBadResponse, "SOURCE_BAD_RESPONSE"),
        (answering(429, b"", **{"retry-after": "2"}), SourceRateLimited, "RATE_LIMITED"),
    ],
)
async def test_transport_maps_failures_to_typed_errors_without_urls(
    mock: httpx.MockTransport, error: type[Exception], code: str
) -> None:
    t = transport(mock)
    with pytest.raises(error) as caught:
        await t.get_json("/accounts", [("partyId", "p1")])
    assert caught.value.code == code  # type: ignore[attr-defined]
    assert caught.value.source == "core"  # type: ignore[attr-defined]
    text = str(caught.value)
    assert "internal.example" not in text and "9000" not in text and "db01" not in text
    await t.aclose()


async def test_transport_rate_limit_carries_retry_after_seconds() -> None:
    t = transport(answering(429, b"", **{"retry-after": "7"}))
    with pytest.raises(SourceRateLimited) as caught:
        await t.get_json("/x")
    assert caught.value.retry_after == 7.0
    await t.aclose()


async def test_transport_refuses_oversized_bodies_declared_or_streamed() -> None:
    big = b'{"x": "' + b"a" * 5000 + b'"}'
    t = transport(answering(200, big), max_body_bytes=1024)
    with pytest.raises(SourceBadResponse, match="oversized"):
        await t.get_json("/x")
    await t.aclose()

    class Trickle(httpx.AsyncByteStream):  # no content-length: the cap applies while reading
        async def __aiter__(self):  # type: ignore[no-untyped-def]
            for _ in range(10):
                yield b"a" * 512

    t = transport(
        httpx.MockTransport(lambda r: httpx.Response(200, stream=Trickle())), max_body_bytes=1024
    )
    with pytest.raises(SourceBadResponse, match="oversized"):
        await t.get_json("/x")
    await t.aclose()


async def test_transport_with_no_budget_left_makes_no_call() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, json={})

    t = transport(httpx.MockTransport(handler))
    with pytest.raises(SourceTimeout):
        await t.get_json("/x", budget=0)
    assert calls == 0
    await t.aclose()


def test_source_settings_reject_bad_values() -> None:
    with pytest.raises(ValueError, match="base_url"):
        SourceSettings(name="crm", base_url="file:///etc/passwd")
    with pytest.raises(ValueError, match="max_batch"):
        SourceSettings(name="crm", base_url="http://x", max_batch=0)
