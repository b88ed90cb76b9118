"""A call's budget (`Expiry`, in `HttpClient.get_json`) follows `asyncio.timeout`'s rules: the
budget running out is a SOURCE_TIMEOUT and leaves the task's cancel count as it found it; a
cancellation from anyone else stays a cancellation, even in the same turn as the budget's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from sources import SourceSettings, SourceTimeout
from sources.transport import HttpClient, MockExchange, Reply, Request
from sources.transport.expiry import Expiry


def client(handler: Callable[[Request], Awaitable[Reply]]) -> HttpClient:
    settings = SourceSettings(name="core", base_url="http://sandbox/core")
    return HttpClient(settings, MockExchange.serving(handler))


async def forever(request: Request) -> Reply:
    await asyncio.Event().wait()
    raise AssertionError("never answered")


async def test_the_budget_running_out_is_a_timeout_and_leaves_no_cancel_request() -> None:
    http = client(forever)

    async def call() -> int:
        with pytest.raises(SourceTimeout):
            await http.get_json("/x", [], budget=0.01)
        task = asyncio.current_task()
        assert task is not None
        await asyncio.sleep(0)  # no cancellation left pending for the task's next await
        return task.cancelling()

    assert await asyncio.create_task(call()) == 0


async def test_a_callers_cancellation_stays_a_cancellation() -> None:
    started = asyncio.Event()

    async def waiting(request: Request) -> Reply:
        started.set()
        return await forever(request)

    http = client(waiting)
    call = asyncio.create_task(http.get_json("/x", [], budget=5.0))
    await started.wait()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call


async def test_a_cancellation_in_the_same_turn_as_the_budgets_is_not_a_timeout() -> None:
    """Both cancel requests reach the call before it resumes: as with asyncio.timeout, the
    CancelledError propagates (the caller asked for it) and the budget's request is taken
    back, the caller's kept."""
    seen: list[int] = []

    async def late(request: Request) -> Reply:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().call_soon(task.cancel)  # runs in the same turn as the timer
        time.sleep(0.02)  # noqa: ASYNC251 (the loop held on purpose: the budget, 0.01, runs out)
        return await forever(request)

    http = client(late)

    async def call() -> None:
        try:
            await http.get_json("/x", [], budget=0.01)
        finally:
            task = asyncio.current_task()
            assert task is not None
            seen.append(task.cancelling())

    task = asyncio.create_task(call())
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == [1]


@pytest.mark.parametrize("other_cancel", [False, True])
async def test_expiry_decides_as_asyncio_timeout_decides(other_cancel: bool) -> None:
    """The same steps through `asyncio.timeout` and through `Expiry`: the same verdict and the
    same cancel count afterwards."""

    async def reference() -> tuple[str, int]:
        task = asyncio.current_task()
        assert task is not None
        try:
            async with asyncio.timeout(10) as budget:
                budget.reschedule(asyncio.get_running_loop().time() - 1)  # expires next turn
                if other_cancel:
                    asyncio.get_running_loop().call_soon(task.cancel)
                await asyncio.Event().wait()
        except TimeoutError:
            return "timeout", task.cancelling()
        except asyncio.CancelledError:
            return "cancelled", task.cancelling()
        return "answered", task.cancelling()

    async def ours() -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        expiry = Expiry(loop)
        timer = loop.call_soon(expiry.expire)
        if other_cancel:
            loop.call_soon(task.cancel)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if expiry.ended():
                return "timeout", task.cancelling()
            return "cancelled", task.cancelling()
        finally:
            timer.cancel()
            expiry.ended()
        return "answered", task.cancelling()

    expected = await asyncio.create_task(reference())
    assert await asyncio.create_task(ours()) == expected
    assert expected == (("cancelled", 1) if other_cancel else ("timeout", 0))


async def test_an_expiry_the_answer_beat_is_taken_back() -> None:
    """The timer fired but the call ended another way first: its cancel request is withdrawn
    (`uncancel`), as asyncio.timeout withdraws it, and a later firing does nothing."""
    counts: list[int] = []

    async def call() -> None:
        task = asyncio.current_task()
        assert task is not None
        expiry = Expiry(asyncio.get_running_loop())
        expiry.expire()
        counts.append(task.cancelling())
        assert expiry.ended()  # expired, and nobody else asked: a timeout, if it had landed
        counts.append(task.cancelling())
        expiry.expire()
        counts.append(task.cancelling())

    await asyncio.gather(asyncio.create_task(call()), return_exceptions=True)
    assert counts == [1, 0, 0]
