"""The process is stopping: one flag that the parts with long-lived work watch.

`switchboard serve` sets it on SIGTERM/SIGINT (gateway/http/serving.py), before uvicorn stops:
`/ready` on the internal port answers 503 from then on (the orchestrator stops routing here),
SSE streams send a last comment telling the client to reconnect with its `Last-Event-ID` and
end without `complete` (so graphql-sse clients and EventSource resume elsewhere), and uvicorn
closes the WebSockets with 1012 (service restart). Requests in flight finish; all of it within
`[server] drain_seconds`.
"""

from __future__ import annotations

import asyncio

__all__ = ["Drain"]


class Drain:
    """Set once, never cleared: a stopping process does not start again."""

    def __init__(self) -> None:
        self._stopping = asyncio.Event()

    @property
    def draining(self) -> bool:
        return self._stopping.is_set()

    def begin(self) -> None:
        self._stopping.set()

    async def wait(self) -> None:
        await self._stopping.wait()
