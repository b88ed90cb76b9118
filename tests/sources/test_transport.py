"""The transport: typed errors that name no URL, the deadline, retries, the retry budget, the
circuit breaker, the bulkhead and stale-if-error — each over httpx.MockTransport."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from sources import (
    SourceBadResponse,
    SourceCircuitOpen,
    SourceError,
    SourceOverloaded,
    SourceRateLimited,
    SourceSettings,
    SourceTimeout,
    SourceUnavailable,
    Transport,
    request_scope,
)
from sources.transport import HttpxExchange
from sources.transport.resilience import CircuitBreaker, Outcome

BASE = "http://core.internal.example:9000/core"


class Backend:
    """A scripted back-end: answers in order (the last one repeats); counts the calls."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            answer = await answer(request)
        assert isinstance(answer, httpx.Response)
        return answer


def ok(body: bytes = b'{"ok": true}') -> httpx.Response:
    return httpx.Response(200, content=body)


def status(code: int, body: bytes = b"{}", retry_after: str | None = None) -> httpx.Response:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return httpx.Response(code, content=body, headers=headers)


def transport(backend: Backend, **settings: Any) -> Transport:
    return Transport(
        SourceSettings(name="core", base_url=BASE, **settings),
        exchange=HttpxExchange.over(httpx.MockTransport(backend)),
    )


async def test_get_json_sends_repeated_params_under_the_base_path() -> None:
    seen: list[httpx.URL] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return ok()

    t = transport(Backend(answer))
    assert await t.get_json("/accounts", [("partyId", "a b"), ("partyId", "c&d")]) == {"ok": True}
    assert seen[0].path == "/core/accounts"
    assert seen[0].params.get_list("partyId") == ["a b", "c&d"]
    await t.aclose()


@pytest.mark.parametrize(
    ("answer", "error", "code"),
    [
        (httpx.ConnectError("refused"), SourceUnavailable, "SOURCE_UNAVAILABLE"),
        (httpx.RemoteProtocolError("dropped"), SourceUnavailable, "SOURCE_UNAVAILABLE"),
        (httpx.ReadTimeout("slow"), SourceTimeout, "SOURCE_TIMEOUT"),
        (httpx.PoolTimeout("queued"), SourceTimeout, "SOURCE_TIMEOUT"),
        (status(503), SourceUnavailable, "SOURCE_UNAVAILABLE"),
        (status(500, b"Traceback at db01.internal"), SourceUnavailable, "SOURCE_UNAVAILABLE"),
        (status(400, b'{"error": "bad"}'), SourceBadResponse, "SOURCE_BAD_RESPONSE"),
        (status(404), SourceBadResponse, "SOURCE_BAD_RESPONSE"),
        (ok(b'{"Data": [tru'), SourceBadResponse, "SOURCE_BAD_RESPONSE"),
        (status(429, b"", retry_after="2"), SourceRateLimited, "RATE_LIMITED"),
    ],
)
async def test_failures_map_to_typed_errors_without_urls(
    answer: Any, error: type[SourceError], code: str
) -> None:
    t = transport(Backend(answer), retries=0)
    with pytest.raises(error) as caught:
        await t.get_json("/accounts", [("partyId", "p1")])
    assert caught.value.code == code and caught.value.source == "core"
    text = str(caught.value)
    assert "internal.example" not in text and "9000" not in text and "db01" not in text
    await t.aclose()


async def test_oversized_bodies_are_refused_declared_or_streamed() -> None:
    big = b'{"x": "' + b"a" * 5000 + b'"}'
    t = transport(Backend(ok(big)), max_body_bytes=1024)
    with pytest.raises(SourceBadResponse, match="oversized"):
        await t.get_json("/x")

    class Chunked(httpx.AsyncByteStream):  # no content-length: the cap applies while reading
        async def __aiter__(self) -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"a" * 512

    t = transport(Backend(httpx.Response(200, stream=Chunked())), max_body_bytes=1024)
    with pytest.raises(SourceBadResponse, match="oversized"):
        await t.get_json("/x")
    await t.aclose()


async def test_a_slow_trickle_is_cut_at_the_deadline() -> None:
    class Trickle(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            for _ in range(100):
                await asyncio.sleep(0.05)  # always within any per-read timeout
                yield b" "

    t = transport(Backend(httpx.Response(200, stream=Trickle())), retries=0)
    started = time.monotonic()
    with request_scope(timeout=0.3, margin=0.0), pytest.raises(SourceTimeout):
        await t.get_json("/x")
    assert time.monotonic() - started < 1.0
    await t.aclose()


async def test_no_time_left_makes_no_call() -> None:
    backend = Backend(ok())
    t = transport(backend)
    with request_scope(timeout=0.01, margin=0.05), pytest.raises(SourceTimeout):
        await t.get_json("/x")
    assert backend.calls == 0
    await t.aclose()


async def test_a_few_milliseconds_left_make_no_call() -> None:
    """Less than 10 ms of the request left is no time for a call: it is skipped, as with
    none left, not started to end in a timeout the system did not cause; and where a
    deadline's edge falls between two dispatches, both executions answer the same."""
    backend = Backend(ok())
    t = transport(backend)
    with request_scope(timeout=0.009, margin=0.0) as scope:
        with pytest.raises(SourceTimeout, match="no time left"):
            await t.get_json("/x")
        assert scope.remaining() > 0  # there was time, too little of it
    assert backend.calls == 0
    with request_scope(timeout=0.5, margin=0.0):
        await t.get_json("/x")  # ample time: the call is made
    assert backend.calls == 1
    await t.aclose()


@pytest.mark.parametrize(
    "transient",
    [
        status(503),
        status(502),
        status(504),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
    ],
)
async def test_transient_failures_are_retried(transient: Any) -> None:
    backend = Backend(transient, ok())
    t = transport(backend, retry_base_delay=0.001)
    assert await t.get_json("/x") == {"ok": True}
    assert backend.calls == 2
    await t.aclose()


@pytest.mark.parametrize("final", [status(500), status(400), ok(b"garbage")])
async def test_bugs_and_garbage_are_not_retried(final: httpx.Response) -> None:
    backend = Backend(final, ok())
    t = transport(backend, retry_base_delay=0.001)
    with pytest.raises(SourceError):
        await t.get_json("/x")
    assert backend.calls == 1
    await t.aclose()


async def test_retry_after_is_honoured_when_it_fits_the_deadline() -> None:
    backend = Backend(status(429, retry_after="0.2"), ok())
    t = transport(backend)
    started = time.monotonic()
    with request_scope(timeout=2.0):
        assert await t.get_json("/x") == {"ok": True}
    assert time.monotonic() - started >= 0.2 and backend.calls == 2
    await t.aclose()


async def test_retry_after_past_the_deadline_fails_fast() -> None:
    backend = Backend(status(429, retry_after="30"), ok())
    t = transport(backend)
    started = time.monotonic()
    with request_scope(timeout=1.0), pytest.raises(SourceRateLimited):
        await t.get_json("/x")
    assert time.monotonic() - started < 0.5 and backend.calls == 1
    await t.aclose()


@pytest.mark.parametrize("scoped", [False, True])
async def test_retry_after_beyond_retry_max_delay_fails_fast_with_or_without_a_scope(
    scoped: bool,
) -> None:
    """REVIEW D4: outside a request (the JWKS refresh) nothing used to bound the wait, so a
    `Retry-After: 3600` slept for an hour. No delay exceeds `retry_max_delay`; retrying sooner
    than the system asked would not honour it, so the call fails at once instead."""
    backend = Backend(status(429, retry_after="3600"), ok())
    t = transport(backend, retry_max_delay=1.0)
    with contextlib.ExitStack() as stack:
        if scoped:
            stack.enter_context(request_scope(timeout=7200.0))
        with pytest.raises(SourceRateLimited):
            await asyncio.wait_for(t.get_json("/x"), timeout=5)  # a guard, not a measure
    assert backend.calls == 1
    await t.aclose()


async def test_retry_after_within_retry_max_delay_is_waited_without_a_scope() -> None:
    backend = Backend(status(429, retry_after="0.01"), ok())
    t = transport(backend, retry_max_delay=1.0)
    assert await t.get_json("/x") == {"ok": True}
    assert backend.calls == 2
    await t.aclose()


async def test_retries_stay_within_their_budget_when_a_system_is_sick() -> None:
    backend = Backend(status(503))
    t = transport(
        backend, retry_base_delay=0.0001, retry_budget_ratio=0.1, breaker_min_calls=10_000
    )
    for _ in range(200):
        with pytest.raises(SourceUnavailable):
            await t.get_json("/x")
    retries = backend.calls - 200
    assert retries <= 0.1 * 200 + 3  # the ratio plus the small reserve
    await t.aclose()


async def test_breaker_opens_fails_fast_then_probes_and_closes() -> None:
    backend = Backend(status(503))
    t = transport(
        backend,
        retries=0,
        breaker_window=10,
        breaker_min_calls=4,
        breaker_failure_ratio=0.5,
        breaker_open_seconds=0.2,
    )
    for _ in range(4):
        with pytest.raises(SourceUnavailable):
            await t.get_json("/x")
    assert t.breaker.state == "open"
    calls = backend.calls
    with pytest.raises(SourceCircuitOpen) as caught:
        await t.get_json("/x")
    assert caught.value.code == "CIRCUIT_OPEN" and backend.calls == calls  # not called
    await asyncio.sleep(0.25)
    backend.answers = [ok()]
    assert await t.get_json("/x") == {"ok": True}  # the half-open probe
    assert t.breaker.state == "closed"
    await t.aclose()


async def test_a_failed_probe_opens_the_breaker_again() -> None:
    backend = Backend(status(503))
    t = transport(backend, retries=0, breaker_min_calls=2, breaker_open_seconds=0.1)
    for _ in range(2):
        with pytest.raises(SourceUnavailable):
            await t.get_json("/x")
    await asyncio.sleep(0.15)
    with pytest.raises(SourceUnavailable):
        await t.get_json("/x")
    assert t.breaker.state == "open"
    await t.aclose()


def test_a_late_outcome_from_before_the_circuit_opened_is_no_verdict_on_the_probe() -> None:
    now = [0.0]
    breaker = CircuitBreaker(
        "core", window=10, min_calls=2, failure_ratio=0.5, open_seconds=5.0, clock=lambda: now[0]
    )
    slow = breaker.admit()  # a call that will answer late
    for _ in range(2):
        breaker.record(breaker.admit(), Outcome.FAILURE)
    assert breaker.state == "open"
    breaker.record(slow, Outcome.FAILURE)  # does not restart the open period
    now[0] = 5.0
    probe = breaker.admit()
    assert breaker.state == "half_open"
    breaker.record(slow, Outcome.SUCCESS)  # not the probe: does not close the circuit
    assert breaker.state == "half_open" and breaker.probing
    with pytest.raises(SourceCircuitOpen):
        breaker.admit()
    breaker.record(probe, Outcome.SUCCESS)
    assert breaker.state == "closed" and not breaker.probing


async def test_bulkhead_caps_in_flight_calls_and_fails_fast_beyond_its_queue() -> None:
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return ok()

    t = transport(Backend(slow), max_in_flight=2, max_queue=1, max_connections=2)
    calls = [asyncio.create_task(t.get_json("/x")) for _ in range(3)]
    await asyncio.sleep(0.05)
    with pytest.raises(SourceOverloaded) as caught:
        await t.get_json("/x")
    assert caught.value.code == "SOURCE_OVERLOADED"
    release.set()
    assert [await c for c in calls] == [{"ok": True}] * 3
    await t.aclose()


async def test_stale_if_error_serves_reference_data_only() -> None:
    backend = Backend(ok(b'{"results": [1]}'), status(503))
    t = Transport(
        SourceSettings(name="knowledge", base_url=BASE, retries=0, stale_if_error_seconds=60),
        exchange=HttpxExchange.over(httpx.MockTransport(backend)),
    )
    with request_scope(timeout=2.0) as first:
        assert await t.get_json("/a", [("q", "x")]) == {"results": [1]}
    with request_scope(timeout=2.0) as second:
        assert await t.get_json("/a", [("q", "x")]) == {"results": [1]}  # the system failed
    with request_scope(timeout=2.0) as third, pytest.raises(SourceUnavailable):
        await t.get_json("/a", [("q", "y")])  # never fetched: nothing stale to serve
    assert first.summary()["knowledge"]["status"] == "ok"
    assert second.summary()["knowledge"]["status"] == "stale"
    assert third.summary()["knowledge"]["status"] == "unavailable"
    await t.aclose()
    with pytest.raises(ValueError, match="never customer data"):
        SourceSettings(name="core", base_url=BASE, stale_if_error_seconds=60)


def test_source_settings_reject_bad_values() -> None:
    with pytest.raises(ValueError, match="base_url"):
        SourceSettings(name="crm", base_url="file:///etc/passwd")
    with pytest.raises(ValueError, match="max_batch"):
        SourceSettings(name="crm", base_url="http://x", max_batch=0)
    with pytest.raises(ValueError, match="max_in_flight"):
        SourceSettings(name="crm", base_url="http://x", max_in_flight=100, max_connections=10)
