"""A throwaway redis-server on a free loopback port, for the tests of what replicas share
(rate limits, data budgets, lookup windows, the events broker): Debian's redis-server, which
`python3 dev.py test` installs, stopped afterwards. Without persistence by default; with an
append-only file (`persist_in`) it can be restarted keeping its data, as a deployment would."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["RedisProcess", "redis_process", "redis_server"]


class RedisProcess:
    """One redis-server on a fixed port, which `restart()` stops and starts again."""

    def __init__(self, persist_in: Path | None = None) -> None:
        server = shutil.which("redis-server")
        if server is None:
            pytest.fail("redis-server is missing: `python3 dev.py test` installs Debian's")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port: int = s.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._args = [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        if persist_in is None:
            self._args += ["--appendonly", "no"]
        else:  # every write on disk before it is acknowledged: a restart keeps all of it
            self._args += ["--appendonly", "yes", "--appendfsync", "always"]
            self._args += ["--dir", str(persist_in)]
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(self._args, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def redis_process(persist_in: Path | None = None) -> Iterator[RedisProcess]:
    """A running server (its `url`, database 0), stopped afterwards."""
    process = RedisProcess(persist_in)
    try:
        process.start()
        yield process
    finally:
        process.stop()


@contextmanager
def redis_server() -> Iterator[str]:
    """The URL (database 0) of a server without persistence while it runs."""
    with redis_process() as process:
        yield process.url
