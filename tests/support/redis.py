"""A throwaway redis-server on a free loopback port, for the tests of what replicas share
(rate limits, data budgets, lookup windows): Debian's redis-server, which `python3 dev.py test`
installs, started without persistence and stopped afterwards."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

__all__ = ["redis_server"]


@contextmanager
def redis_server() -> Iterator[str]:
    """The server's URL (database 0) while it runs."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is missing: `python3 dev.py test` installs Debian's redis-server")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)
