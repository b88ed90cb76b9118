"""A loader's batch task runs its first step at once, as the task (resolvers/_eager.py).

Each exit of that step, and each cancellation point after it, ends the task as a task started
the usual way would end: the same result, error or cancellation, the coroutine's own `finally`
run, the caller's task current again."""

from __future__ import annotations

import asyncio
import contextvars
from contextvars import copy_context
from typing import Any

import pytest

from resolvers._eager import start_task
from resolvers._loader import Loader

_TAG: contextvars.ContextVar[str] = contextvars.ContextVar("tag", default="caller")


def _in(tag: str) -> contextvars.Context:
    context = copy_context()
    context.run(_TAG.set, tag)
    return context


async def test_the_first_step_runs_before_start_returns_as_the_new_task() -> None:
    loop = asyncio.get_running_loop()
    caller = asyncio.current_task()
    seen: list[Any] = []
    gate: asyncio.Future[str] = loop.create_future()

    async def work() -> str:
        seen.append((asyncio.current_task(), _TAG.get()))
        value = await gate
        seen.append((asyncio.current_task(), _TAG.get()))
        return value

    task = start_task(loop, work(), _in("batch"))
    assert seen == [(task, "batch")]  # ran already, in its own context, as its own task
    assert asyncio.current_task() is caller and _TAG.get() == "caller"
    gate.set_result("answer")
    assert await task == "answer"
    assert seen[1] == (task, "batch")


async def test_a_coroutine_that_never_waits_ends_its_task_with_its_value() -> None:
    async def at_once() -> int:
        return 7

    task = start_task(asyncio.get_running_loop(), at_once(), copy_context())
    assert not task.done()  # a task's end is seen at its first turn, as for any task
    assert await task == 7


async def test_an_error_in_the_first_step_is_the_tasks_not_the_callers() -> None:
    async def fails() -> None:
        raise LookupError("no such record")

    task = start_task(asyncio.get_running_loop(), fails(), copy_context())  # does not raise
    with pytest.raises(LookupError, match="no such record"):
        await task


async def test_cancelled_before_its_first_turn_the_coroutine_is_cancelled_where_it_waits() -> None:
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[None] = loop.create_future()
    ends: list[str] = []

    async def work() -> None:
        try:
            await gate
        except asyncio.CancelledError:
            ends.append("cancelled")
            raise
        finally:
            ends.append("finally")

    task = start_task(loop, work(), copy_context())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ends == ["cancelled", "finally"]
    assert task.cancelled()
    assert gate.cancelled()  # as a task cancels the future it waits on


async def test_cancelled_while_waiting_later_the_awaited_future_is_cancelled_too() -> None:
    loop = asyncio.get_running_loop()
    first: asyncio.Future[None] = loop.create_future()
    second: asyncio.Future[None] = loop.create_future()

    async def work() -> None:
        await first
        await second

    task = start_task(loop, work(), copy_context())
    first.set_result(None)
    for _ in range(3):
        await asyncio.sleep(0)  # the task waits on `second` now
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert second.cancelled()  # as a task cancels the future it waits on


async def test_a_timeout_armed_in_the_first_step_cancels_the_new_task_not_the_caller() -> None:
    loop = asyncio.get_running_loop()
    never: asyncio.Future[None] = loop.create_future()

    async def bounded() -> str:
        try:
            async with asyncio.timeout(0.01):
                await never
        except TimeoutError:
            return "timed out"
        return "answered"

    task = start_task(loop, bounded(), copy_context())
    # the caller waits on something else meanwhile: were it the timer's task, this would raise
    await asyncio.wait([task], timeout=5)
    assert task.result() == "timed out"


async def test_a_loaders_call_starts_before_dispatch_returns() -> None:
    calls: list[list[str]] = []

    async def batch(keys: list[str]) -> list[str]:
        calls.append(list(keys))  # the call's start: the first step, before any wait
        await asyncio.sleep(0)
        return [k.upper() for k in keys]

    loader: Loader[str, str] = Loader(batch)
    pending = loader.load_many(["a", "b"])
    loader.dispatch()
    assert calls == [["a", "b"]]
    assert await pending == ["A", "B"]
