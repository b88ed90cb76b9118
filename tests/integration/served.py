"""`switchboard serve` in a subprocess against the session's sandbox: the command as deployed,
with its uvicorn settings, both ports and its limits."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sources import SYSTEMS
from tests.support.processes import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Served:
    url: str
    admin: str
    port: int


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
        wait_ready(f"{served.admin}/ready", process)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        os.unlink(config.name)
