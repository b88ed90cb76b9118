"""`switchboard serve --workers 2` over real sockets, on a real redis-server: both worker
processes answer on the one public port, and a webhook (posted by the sandbox to whichever
worker the kernel hands its connection) pops on subscribers of both workers. Which worker
holds a connection is read from /proc (the server side of the client's port), so the test
knows it has a subscriber on each. Without `[events] redis_url` more than one worker is
refused when webhooks are configured."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from gateway.events.mapping import SYSTEMS
from sources import SYSTEMS as SOURCES
from sources.sandbox import create_app as sandbox_app
from sources.sandbox.client import mint_token, sample_customers, start_call
from sources.sandbox.server import background_server
from tests.events.payloads import SECRET
from tests.support.processes import ROOT, Starting, gateway_starting
from tests.support.redis import redis_server

POP = "subscription { screenPops { cursor event interaction { id } } }"
WEBHOOKS = "".join(f'[webhooks.{system}]\nsecrets = ["{SECRET}"]\n\n' for system in SYSTEMS)


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def owner(pids: list[int], server_port: int, client_port: int) -> int | None:
    """Which of `pids` holds the server side of the connection from `client_port`."""
    wanted = f":{server_port:04X}", f":{client_port:04X}"
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(wanted[0]) and fields[2].endswith(wanted[1]):
            inode = fields[9]
    if inode is None:
        return None
    return next((pid for pid in pids if inode in _socket_inodes(pid)), None)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[str, object]]:
    app = sandbox_app(
        customers=50, webhook_url="http://127.0.0.1:9/webhooks", webhook_secret=SECRET
    )
    with background_server(app, lifespan="off", before_exit=app.abort_hanging) as url:
        yield url, app


async def _subscribe(url: str, token: str) -> ClientConnection:
    protocols = [Subprotocol("graphql-transport-ws")]
    ws = await connect(url.replace("http://", "ws://") + "/graphql", subprotocols=protocols)
    init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
    await ws.send(json.dumps(init))
    assert json.loads(await asyncio.wait_for(ws.recv(), 15))["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": POP}}))
    return ws


async def _events(ws: ClientConnection, n: int) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    while len(seen) < n:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if frame["type"] in ("ping", "pong"):
            continue
        assert frame["type"] == "next" and "errors" not in frame["payload"], frame
        pop = frame["payload"]["data"]["screenPops"]
        seen.append((pop["interaction"]["id"], pop["event"]))
    return seen


def test_two_workers_answer_and_a_webhook_reaches_subscribers_of_both(
    sandbox: tuple[str, object],
) -> None:
    sb, app = sandbox
    with redis_server() as redis_url:
        toml = WEBHOOKS + f'[events]\nredis_url = "{redis_url}"\n'
        with gateway_starting(sb, toml, args=["--workers", "2"]) as starting:
            url, parent = starting.ready()
            app.poster.base = f"{url}/webhooks"  # type: ignore[attr-defined]
            port = int(url.rsplit(":", 1)[1])

            async def scenario() -> tuple[int, list[list[tuple[str, str]]], str]:
                workers = [p for p in _children(parent) if _listens(p, starting)]
                assert len(workers) == 2, workers
                token = await mint_token(sb, sub="agent-workers", roles=["agent"])
                on: dict[int, ClientConnection] = {}
                extra: list[ClientConnection] = []
                for _ in range(60):  # the kernel decides which worker accepts: ask until both
                    ws = await _subscribe(url, token)
                    pid = owner(workers, port, ws.local_address[1])
                    if pid is not None and pid not in on:
                        on[pid] = ws
                    else:
                        extra.append(ws)
                    if len(on) == 2:
                        break
                for ws in extra:
                    await ws.close()
                customer = (await sample_customers(sb, 1))[0]["id"]
                call = await start_call(sb, customer, "agent-workers", ring_ms=0, idv_after_ms=0)
                seen = [await _events(ws, 3) for ws in on.values()]
                for ws in on.values():
                    await ws.close()
                return len(on), seen, call

            answered, seen, call = asyncio.run(scenario())
            assert answered == 2  # a subscription accepted by each worker
            expected = [(call, "OFFERED"), (call, "CONNECTED"), (call, "VERIFIED")]
            assert seen == [expected, expected]


def _listens(pid: int, starting: Starting) -> bool:
    """A worker (not multiprocessing's resource tracker): it holds sockets."""
    return "gateway" in " ".join(_cmdline(pid)) or len(_socket_inodes(pid)) >= 2


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")


def test_more_than_one_worker_without_redis_is_refused_when_webhooks_come_in(
    sandbox: tuple[str, object],
) -> None:
    sb, _ = sandbox
    toml = f"""[auth]
issuer = "{sb}/idp"
audience = "switchboard"
jwks_url = "{sb}/idp/.well-known/jwks.json"

{WEBHOOKS}"""
    toml += "".join(f'[sources.{s}]\nbase_url = "{sb}/{s}"\n' for s in SOURCES)
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as config:
        config.write(toml)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "gateway", "serve", "--config", config.name, "--workers", "2"],
            cwd=ROOT,
            capture_output=True,
            timeout=60,
            check=False,
        )
    finally:
        os.unlink(config.name)
    assert done.returncode == 2
    assert b"--workers > 1 with [webhooks] needs [events] redis_url" in done.stderr
