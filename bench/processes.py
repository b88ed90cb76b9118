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

__all__ = ["free_port", "gateway_process", "sandbox_process"]

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
def _running(args: list[str], ready_url: str) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
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
def sandbox_process(customers: int, latency_ms: float = 0.0) -> Iterator[str]:
    port = free_port()
    args = ["sandbox", "--port", str(port), "--customers", str(customers)]
    args += ["--latency-ms", str(latency_ms)]
    with _running(args, f"http://127.0.0.1:{port}/_sandbox/stats"):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def gateway_process(sandbox: str, extra_toml: str = "") -> Iterator[tuple[str, int]]:
    """The gateway on its own port, configured for the sandbox; yields (url, pid)."""
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
        with _running(["serve", "--config", config.name], f"http://127.0.0.1:{port}/ready") as p:
            yield f"http://127.0.0.1:{port}", p.pid
    finally:
        os.unlink(config.name)
