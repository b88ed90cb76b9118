"""`switchboard serve` in a subprocess against the session's sandbox: the command as deployed,
with its uvicorn settings, both ports and its limits."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from sources import SYSTEMS

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Served:
    url: str
    admin: str
    port: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def switchboard_serve(sandbox: str, server_toml: str = "") -> Iterator[Served]:
    """Serve the gateway with `[server]` extended by `server_toml`; wait until /ready is 200."""
    port, admin = free_port(), free_port()
    sources = "".join(f'[sources.{s}]\nbase_url = "{sandbox}/{s}"\n' for s in SYSTEMS)
    toml = f"""[server]
port = {port}
admin_port = {admin}
access_log = false
{server_toml}

[auth]
issuer = "{sandbox}/idp"
audience = "switchboard"
jwks_url = "{sandbox}/idp/.well-known/jwks.json"

[audit]
sink = "{os.devnull}"

[rate_limit]
enabled = false

{sources}"""
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as config:
        config.write(toml)
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--config", config.name],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    served = Served(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin}", port)
    try:
        _wait(f"{served.admin}/ready", process)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        os.unlink(config.name)


def _wait(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(600):  # start-up is mostly imports: seconds on a loaded machine
        if process.poll() is not None:
            raise RuntimeError(f"switchboard serve exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready")
