"""A task whose first step runs now, in the caller's turn: what Python 3.12's eager tasks do,
for a loader's batch (resolvers/_loader.py), on the 3.11 this project supports.

`loop.create_task` runs a coroutine's first step at a later turn, behind everything already
queued: at concurrency 1 with every answer of a level arriving at once, a batch made while
placing one answer waited ~0.1-0.25 ms for the others' reads before its call was written, on
the screen-pop's critical path at each level (docs/performance.md, issue #18). Here the first
step runs at once, up to the call's first real wait (the socket's answer), as the task:
`asyncio.current_task()` is the new task meanwhile (a budget's timer cancels the task it was
armed in: sources/transport/expiry.py), in the task's own context. Then the task takes the
coroutine over where that step left it: `_Resumed` hands the task the future the step waited
on, as if the task had run the step itself, and forwards every later step, so a cancellation,
an error or a result goes through the same coroutine frames as on a task started the usual way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from contextvars import Context
from types import TracebackType
from typing import Any, TypeVar

__all__ = ["start_task"]

T = TypeVar("T")

_NOT_YET: Any = object()
"""The eager step did not return (`_Resumed.ended`)."""


class _Resumed(Coroutine[Any, Any, T]):
    """The coroutine a task drives after its first step ran eagerly: the task's first `send`
    gets what that step yielded (or its end), every later call goes to the coroutine."""

    def __init__(self, coro: Coroutine[Any, Any, T]) -> None:
        self.coro = coro
        # what asyncio names the task's coroutine by (its repr, tests that list tasks)
        self.__qualname__ = getattr(coro, "__qualname__", type(coro).__qualname__)
        self.__name__ = getattr(coro, "__name__", type(coro).__name__)
        self.first: Any = None
        """What the eager step yielded: a future, or None for a bare yield."""
        self.ended: Any = _NOT_YET
        """The eager step's return value, when the coroutine ended in it."""
        self.failed: BaseException | None = None
        """The eager step's exception, when the coroutine raised in it."""

    def _handed_over(self) -> None:
        # every later turn goes straight to the coroutine's own methods: an instance
        # attribute comes before a class's method, and saves a Python call per resume
        self.send = self.coro.send  # type: ignore[method-assign,assignment]
        self.throw = self.coro.throw  # type: ignore[method-assign,assignment]

    def send(self, value: Any) -> Any:
        """The task's first turn: what the eager step left."""
        self._handed_over()
        if self.failed is not None:
            failed, self.failed = self.failed, None
            raise failed
        if self.ended is not _NOT_YET:
            ended, self.ended = self.ended, _NOT_YET
            raise StopIteration(ended)
        first, self.first = self.first, None
        return first

    def throw(
        self,
        typ: type[BaseException] | BaseException,
        val: BaseException | object = None,
        tb: TracebackType | None = None,
    ) -> Any:
        """The task's first turn with an error (it was cancelled before that turn): the error
        goes where the eager step left the coroutine, as into a task's coroutine awaiting
        that future: a cancellation cancels the future first (a task cancels what it waits
        on: a gather's children, a call's read), then the coroutine reads it."""
        self._handed_over()
        first, self.first, self.failed, self.ended = self.first, None, None, _NOT_YET
        if isinstance(typ, BaseException):
            error = typ
        else:
            error = val if isinstance(val, BaseException) else typ()
            if tb is not None:
                error = error.with_traceback(tb)
        if (
            isinstance(error, asyncio.CancelledError)
            and isinstance(first, asyncio.Future)
            and first.cancel(*error.args[:1])
        ):
            return self.coro.send(None)
        return self.coro.throw(error)

    def close(self) -> None:
        self.coro.close()

    def __await__(self) -> Generator[Any, None, T]:
        raise TypeError("a resumed coroutine is driven by its task only")


def start_task(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T], context: Context
) -> asyncio.Task[T]:
    """A task for `coro` in `context` whose first step has already run when this returns.

    The step runs as the new task (the caller's task, if any, steps aside and comes back after,
    whatever the step did); an exception it raises or a value it returns is the task's, seen at
    the task's first turn as for any task (nothing is raised here)."""
    resumed: _Resumed[T] = _Resumed(coro)
    task = loop.create_task(resumed, context=context)
    caller = asyncio.current_task(loop)
    if caller is not None:
        asyncio.tasks._leave_task(loop, caller)
    asyncio.tasks._enter_task(loop, task)
    try:
        resumed.first = context.run(coro.send, None)
    except StopIteration as stop:
        resumed.ended = stop.value
    except BaseException as error:  # the task's, raised at its first turn (as by `send`)
        resumed.failed = error
    finally:
        asyncio.tasks._leave_task(loop, task)
        if caller is not None:
            asyncio.tasks._enter_task(loop, caller)
    return task
