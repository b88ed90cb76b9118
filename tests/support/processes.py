"""The systems under test as separate processes on 127.0.0.1: the sandbox, the gateway and the
floor.

`gateway_process` and `floor_process` start a process and wait until it is ready;
`gateway_starting` and `floor_starting` only start it (`Starting.ready()` waits), so that several
can start at once: imports are most of a start, and they run in parallel on several cores.

Shared by the benchmarks (bench/) and the tests (tests/differential/), so it lives with the tests:
the tests must not depend on the benchmark package. bench imports it as `tests.support.processes`
(both run from the repo root, where `tests` is a package)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from sources import SYSTEMS

BENCH_RATE_LIMIT = """
[rate_limit]
rate = 1000000.0
burst = 1000000
"""
"""One token drives all of a benchmark's load: the per-caller rate limit is raised out of the way
(the limiter still runs, so its cost is measured)."""

_OUT_OF_THE_WAY = 1_000_000_000
_ROLES = ", ".join(
    f"{role} = {_OUT_OF_THE_WAY}"
    for role in ("agent", "collections", "supervisor", "fraud_analyst", "ivr", "developer")
)
BENCH_BUDGETS = f"""
[limits.data_budget]
customers = {_OUT_OF_THE_WAY}
roles = {{ {_ROLES} }}

[limits.lookups]
per_window = {_OUT_OF_THE_WAY}
roles = {{ {_ROLES} }}
"""
"""The per-subject data budget and lookup window raised out of the way too, for the same reason
(both still run, so their cost is measured)."""

__all__ = [
    "ADMIN_URLS",
    "BENCH_BUDGETS",
    "BENCH_RATE_LIMIT",
    "Starting",
    "floor_process",
    "floor_starting",
    "free_port",
    "gateway_process",
    "gateway_starting",
    "sandbox_process",
    "sandbox_server",
    "wait_ready",
]

ROOT = Path(__file__).resolve().parents[2]

ADMIN_URLS: dict[str, str] = {}
"""Public URL -> internal URL (GET /ready, /metrics) of each gateway started here."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_ready(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    """Until `url` answers 200 (the process exiting first, or `seconds` passing, raises)."""
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


@dataclass(frozen=True, slots=True)
class Starting:
    """A server process started, perhaps not ready yet."""

    url: str
    process: subprocess.Popen[bytes]
    ready_url: str

    def ready(self) -> tuple[str, int]:
        """Wait until it answers its readiness URL; (base url, pid)."""
        wait_ready(self.ready_url, self.process)
        return self.url, self.process.pid


@contextmanager
def _running(
    args: list[str],
    ready_url: str,
    *,
    module: str = "gateway",
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    with _started(args, module=module, env=env) as process:
        wait_ready(ready_url, process)
        yield process


@contextmanager
def _started(
    args: list[str], *, module: str = "gateway", env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    try:
        yield process
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen[Any], timeout: float = 15) -> None:
    """SIGTERM (the process drains and exits), then SIGKILL if it has not within `timeout`."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


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
    environment variables (e.g. SWITCHBOARD_SOURCES_CORE_CLIENT, SWITCHBOARD_SERVER_EXECUTION)."""
    with gateway_starting(sandbox, extra_toml, env) as starting:
        yield starting.ready()


@contextmanager
def gateway_starting(
    sandbox: str,
    extra_toml: str = "",
    env: dict[str, str] | None = None,
    args: Sequence[str] = (),
) -> Iterator[Starting]:
    """`gateway_process` without the wait: call `ready()` on what it yields. `args` go after
    `serve --config ...` (e.g. `--workers 2`)."""
    port, admin = free_port(), free_port()
    sources = "".join(f'[sources.{s}]\nbase_url = "{sandbox}/{s}"\n' for s in SYSTEMS)
    toml = f"""[server]
host = "127.0.0.1"
port = {port}
admin_port = {admin}

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
        url = f"http://127.0.0.1:{port}"
        ADMIN_URLS[url] = f"http://127.0.0.1:{admin}"
        with _started(["serve", "--config", config.name, *args], env=env) as p:
            yield Starting(url, p, f"{ADMIN_URLS[url]}/ready")
    finally:
        os.unlink(config.name)


@contextmanager
def floor_process(sandbox: str, env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """The floor (bench/floor.py) on its own port; yields (url, pid)."""
    with floor_starting(sandbox, env) as starting:
        yield starting.ready()


@contextmanager
def floor_starting(sandbox: str, env: dict[str, str] | None = None) -> Iterator[Starting]:
    """`floor_process` without the wait: call `ready()` on what it yields."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with _started(["--port", str(port), "--sandbox", sandbox], module="bench.floor", env=env) as p:
        yield Starting(url, p, f"{url}/ready")
