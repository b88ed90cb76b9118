"""The systems under test as separate processes on 127.0.0.1: the sandbox and the gateway."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

BENCH_RATE_LIMIT = """
[rate_limit]
rate = 1000000.0
burst = 1000000
"""
"""One token drives all of a benchmark's load: the per-caller rate limit is raised out of the way
(the limiter still runs, so its cost is measured)."""

__all__ = [
    "BENCH_RATE_LIMIT",
    "floor_process",
    "free_port",
    "gateway_process",
    "sandbox_process",
    "sandbox_server",
]

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready")


@contextmanager
def _running(
    args: list[str],
    ready_url: str,
    *,
    module: str = "gateway",
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    try:
        _wait(ready_url, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def sandbox_server(customers: int, latency_ms: float = 0.0) -> Iterator[tuple[str, int]]:
    """The sandbox systems in their own process; yields (base url, pid)."""
    port = free_port()
    args = ["sandbox", "--port", str(port), "--customers", str(customers)]
    args += ["--latency-ms", str(latency_ms)]
    with _running(args, f"http://127.0.0.1:{port}/_sandbox/stats") as process:
        yield f"http://127.0.0.1:{port}", process.pid


@contextmanager
def sandbox_process(customers: int, latency_ms: float = 0.0) -> Iterator[str]:
    with sandbox_server(customers, latency_ms) as (url, _):
        yield url


@contextmanager
def gateway_process(
    sandbox: str, extra_toml: str = "", env: dict[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    """The gateway on its own port, configured for the sandbox; yields (url, pid). `env` adds
    environment variables (e.g. SWITCHBOARD_HTTP_CLIENT)."""
    port = free_port()
    systems = ("crm", "core", "ccaas", "knowledge")
    sources = "".join(f'[sources.{s}]\nbase_url = "{sandbox}/{s}"\n' for s in systems)
    toml = f"""[server]
host = "127.0.0.1"
port = {port}

[auth]
issuer = "{sandbox}/idp"
audience = "switchboard"
jwks_url = "{sandbox}/idp/.well-known/jwks.json"

[audit]
sink = "{os.devnull}"

{sources}{extra_toml}"""
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as config:
        config.write(toml)
    try:
        ready = f"http://127.0.0.1:{port}/ready"
        with _running(["serve", "--config", config.name], ready, env=env) as p:
            yield f"http://127.0.0.1:{port}", p.pid
    finally:
        os.unlink(config.name)


@contextmanager
def floor_process(sandbox: str, env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """The floor (bench/floor.py) on its own port; yields (url, pid)."""
    port = free_port()
    args = ["--port", str(port), "--sandbox", sandbox]
    ready = f"http://127.0.0.1:{port}/ready"
    with _running(args, ready, module="bench.floor", env=env) as p:
        yield f"http://127.0.0.1:{port}", p.pid
