"""A FIFO counting semaphore whose free slot is taken without a coroutine.

Why: every back-end call takes two slots (the bulkhead's and the wire pool's). With
`asyncio.Semaphore` each take was a coroutine or two (`async with` makes `__aenter__` and
`acquire`) and each `locked()` a generator over the waiters, even with a slot free, which is
nearly always; a screen-pop makes ten calls (issue #18). `take_now()` answers at once; only a
caller that must wait makes a coroutine and a future.

The same rules as `asyncio.Semaphore`: first come, first served (nobody takes a free slot while
anyone waits), and a waiter cancelled after it was handed a slot passes it on, so a cancelled
waiter never keeps one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

__all__ = ["Slots"]


class Slots:
    __slots__ = ("_free", "_waiters")

    def __init__(self, count: int) -> None:
        self._free = count
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def free(self) -> int:
        """Slots nobody holds (a waiter handed one but not yet resumed holds it)."""
        return self._free

    def take_now(self) -> bool:
        """Take a free slot if there is one and nobody waits; `give()` it back once after."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        return False

    async def take(self) -> None:
        """Take a slot, waiting in line for one if none is free; `give()` it back once after.
        Cancelled while waiting: no slot is kept (one handed over meanwhile is passed on)."""
        if self.take_now():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.give()  # handed a slot, but went away before using it
            else:
                with contextlib.suppress(ValueError):  # `give()` may have passed over it
                    self._waiters.remove(waiter)
            raise
        finally:
            del waiter  # a failure's traceback holds this frame: no cycle through the future

    def give(self) -> None:
        """A slot back: to the first caller still waiting, or free."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1
