"""Serving the sandbox over real sockets: `running` for tests and benchmarks, `serve` for the CLI.

httptools is picked explicitly (it is what `uvicorn[standard]` brings and the faster parser);
h11 works too and the fault tests exercise both, because `down` and `timeout` reach into the
protocol's request cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal

import uvicorn
from starlette.types import ASGIApp

from .app import create_app

Protocol = Literal["httptools", "h11"]
Lifespan = Literal["auto", "on", "off"]


def _config(app: ASGIApp, http: Protocol, log_level: str, **more: Any) -> uvicorn.Config:
    more.setdefault("lifespan", "off")
    more.setdefault("ws", "none")
    return uvicorn.Config(
        app,
        **more,
        http=http,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
    )


@contextmanager
def background_server(
    app: ASGIApp,
    *,
    lifespan: Lifespan = "auto",
    http: Protocol = "httptools",
    websockets: bool = False,
    before_exit: Callable[[], None] | None = None,
) -> Iterator[str]:
    """Serve any ASGI app on a free 127.0.0.1 port in a thread with its own event loop; yield
    its base URL. `before_exit` runs on that loop before shutdown (to release held requests).
    """
    config = _config(app, http, "warning", lifespan=lifespan, ws="auto" if websockets else "none")
    server = uvicorn.Server(config)
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose
    # listener says TCP, and without it every answer waits out a 40 ms delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    loop_factory = config.get_loop_factory() or asyncio.new_event_loop  # uvloop when installed
    loop = loop_factory()
    failure: list[BaseException] = []

    def serve_in_thread() -> None:
        try:
            loop.run_until_complete(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported to the caller's thread, not lost
            failure.append(exc)
        finally:
            # Anything uvicorn's graceful-shutdown timeout cancelled must finish before the
            # loop closes, or it is reported as a task destroyed while pending.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=serve_in_thread, name=f"server:{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if failure or not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start") from (
                    failure[0] if failure else None
                )
            time.sleep(0.005)
        yield f"http://127.0.0.1:{port}"
    finally:
        if before_exit is not None:
            with contextlib.suppress(RuntimeError):  # the loop may already be closed
                loop.call_soon_threadsafe(before_exit)
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@contextmanager
def running(
    *,
    seed: int = 7,
    customers: int = 10_000,
    latency_ms: float = 0.0,
    anchor: datetime | None = None,
    http: Protocol = "httptools",
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    canary: bool = False,
) -> Iterator[str]:
    """Serve a fresh sandbox on a free 127.0.0.1 port in a background thread; yield its URL."""
    app = create_app(
        seed=seed,
        customers=customers,
        latency_ms=latency_ms,
        anchor=anchor,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        canary=canary,
    )
    with background_server(app, lifespan="off", http=http, before_exit=app.abort_hanging) as url:
        yield url


def serve(
    *,
    host: str = "127.0.0.1",
    port: int,
    seed: int = 7,
    customers: int = 10_000,
    latency_ms: float = 0.0,
    anchor: datetime | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    canary: bool = False,
) -> None:
    """Block serving the sandbox until interrupted (`switchboard sandbox --port P`)."""
    app = create_app(
        seed=seed,
        customers=customers,
        latency_ms=latency_ms,
        anchor=anchor,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        canary=canary,
    )
    print("\n".join(banner(f"http://{host}:{port}")), flush=True)
    uvicorn.Server(_config(app, "httptools", "info", host=host, port=port)).run()


def banner(base: str) -> list[str]:
    """What a gateway pointed at this sandbox needs: the issuer, its keys and a way to get a
    token (form fields of POST /idp/token: sub, roles, ttl, alg; docs/sandbox.md)."""
    return [
        f"Sandbox systems at {base}: /crm, /core, /ccaas, /knowledge (docs/sandbox.md)",
        f"Identity provider: {base}/idp (the gateway's [auth] issuer; audience switchboard)",
        f"  JWKS: {base}/idp/.well-known/jwks.json",
        "  a token for an agent, valid an hour:",
        f"  curl -s {base}/idp/token -d sub=agent-0001 -d roles=agent -d ttl=3600",
    ]
