"""aiohttp's connection pool, keeping no caller's context.

A transport runs its protocol's callbacks (the answer's bytes arriving, the connection lost) in
the context that was current when it was created, and timers run in the context current when
they were scheduled. aiohttp opens a pooled connection inside the call that first needs it and
arms the pool's keep-alive timer from whichever call releases a connection first, so both used
to carry that request's context (its scope and deadline, its log and trace context) for the
connection's whole life: every later answer on it was parsed in the first request's context,
and the pool's timer, re-arming itself, kept that request alive for as long as the pool held a
connection (issue #18; tests/sources/test_pool_context.py). No code of ours reads a request's
scope from those callbacks today; this keeps it so by construction (nothing there can see a
request's deadline), and lets a finished request be freed.

Here a connection is opened in a task with an empty context, and a connection is released in
an empty context: one task per new connection (rare: the pool keeps them), nothing per call.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp.client_proto import ResponseHandler

if TYPE_CHECKING:
    from aiohttp.client_reqrep import ClientRequest
    from aiohttp.tracing import Trace

__all__ = ["PoolConnector"]


class PoolConnector(aiohttp.TCPConnector):
    """`aiohttp.TCPConnector` whose connections and keep-alive timer belong to no request."""

    async def _create_connection(
        self,
        req: ClientRequest,
        traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 (aiohttp's signature)
    ) -> ResponseHandler:
        opening = asyncio.get_running_loop().create_task(
            super()._create_connection(req, traces, timeout), context=contextvars.Context()
        )
        try:
            # the caller cancelled (its deadline): the opening task is cancelled with it
            return await opening
        except asyncio.CancelledError:
            # opened all the same, just as the caller went away: not left open, unpooled
            if opening.done() and not opening.cancelled() and opening.exception() is None:
                opening.result().close()
            raise

    def _release(self, *args: Any, **kwargs: Any) -> None:
        # called when an answer has been read: from the caller's task, or from the protocol's
        # callbacks; the keep-alive timer it may arm (and re-arm from itself) runs in the
        # context it is armed in
        contextvars.Context().run(super()._release, *args, **kwargs)
