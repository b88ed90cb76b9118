"""A raw asyncio back-end for the wire client's tests: each connection is handed to a script
(reader, writer, which connection this is) that answers, or misbehaves, byte by byte."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["OK", "Backend", "answer", "read_request", "serve"]

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


@dataclass
class Backend:
    url: str
    connections: int = 0
    """How many connections the client opened."""
    requests: list[bytes] = field(default_factory=list)
    """Every request head (and body) received, in order."""
    closed_by_client: int = 0
    """Connections on which the client closed its side (EOF seen by the script's reader)."""
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def note(self) -> None:
        self.changed.set()

    async def until(self, ready: Callable[[], bool]) -> None:
        """Wait (without polling) until `ready()` holds; a test that would hang fails instead."""
        async with asyncio.timeout(10):
            while not ready():
                self.changed.clear()
                await self.changed.wait()


async def read_request(reader: asyncio.StreamReader, backend: Backend) -> bytes | None:
    """One request (head and a Content-Length body), recorded; None at the client's EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        backend.closed_by_client += 1
        backend.note()
        return None
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    request = head + (await reader.readexactly(length) if length else b"")
    backend.requests.append(request)
    backend.note()
    return request


async def answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int, b: Backend
) -> None:
    """Answer every request on the connection with OK, until the client closes it."""
    while await read_request(reader, b) is not None:
        writer.write(OK)


@contextlib.asynccontextmanager
async def serve(
    script: Callable[[asyncio.StreamReader, asyncio.StreamWriter, int, Backend], Awaitable[None]],
    tls: ssl.SSLContext | None = None,
    host: str = "127.0.0.1",
) -> AsyncIterator[Backend]:
    tasks: set[asyncio.Task[None]] = set()
    backend = Backend("")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        backend.connections += 1
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await script(reader, writer, backend.connections, backend)
        except ConnectionError:  # the client reset it
            backend.closed_by_client += 1
            backend.note()
        finally:
            writer.close()
            tasks.discard(task)

    server = await asyncio.start_server(handle, host, 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    backend.url = f"{'https' if tls else 'http'}://{'localhost' if tls else host}:{port}/sys"
    try:
        yield backend
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()
