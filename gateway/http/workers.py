"""`switchboard serve --workers N`: N processes sharing the public and the internal port.

The parent binds both listening sockets once and starts N worker processes (multiprocessing's
"spawn": a fresh interpreter each, nothing forked mid-flight), each running the gateway on those
sockets: the kernel hands each new connection to one of the processes waiting on the socket. A
process serves both servers (gateway/http/serving.py), so `/ready` is answered by any worker.

Each worker has its own state: caches, circuit breakers, bulkheads, subscriptions. What must be
shared is shared in Redis: with `[events] redis_url` a webhook posted to one worker reaches the
subscribers on every other (without it the CLI refuses more than one worker when webhooks are
configured), with `[rate_limit] redis_url` the per-caller limits count across workers.

SIGTERM/SIGINT to the parent is passed to every worker, which drains (readiness 503, requests in
flight finish, WebSockets 1012, SSE streams end) within `[server] drain_seconds`; a worker still
alive a second after that is killed. A worker that dies while the parent runs is replaced; one
that exits during start-up (a configuration the workers cannot serve) stops the parent.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from multiprocessing.process import BaseProcess
from types import FrameType

__all__ = ["Supervisor", "listen"]

log = logging.getLogger("switchboard")

_spawn = multiprocessing.get_context("spawn")
_PR_SET_PDEATHSIG = 1
STARTUP_SECONDS = 60.0
"""A worker that exits within this long of starting failed to start (its configuration, a
port): replacing it would fail the same way, so the parent stops."""


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket, inheritable by the workers (as uvicorn binds its own)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=2048)
    sock.set_inheritable(True)
    return sock


class Supervisor:
    """Starts `workers` processes running `target(sockets)` and keeps them running until a
    signal, then passes the signal on and waits `drain_seconds` (+1) for them."""

    def __init__(
        self,
        target: Callable[[Sequence[socket.socket]], int],
        sockets: Sequence[socket.socket],
        workers: int,
        drain_seconds: float,
    ) -> None:
        self.target = target
        self.sockets = list(sockets)
        self.workers = workers
        self.drain_seconds = drain_seconds
        self._stop = False
        self._processes: list[tuple[BaseProcess, float]] = []

    def run(self) -> int:
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        failed = False
        try:
            self._processes = [self._start() for _ in range(self.workers)]
            while not self._stop:
                time.sleep(0.2)
                for i, (process, started) in enumerate(self._processes):
                    if process.is_alive() or self._stop:
                        continue
                    if time.monotonic() - started < STARTUP_SECONDS:
                        log.error("worker %s exited during start-up (%s)", i, process.exitcode)
                        failed = self._stop = True
                        break
                    log.error("worker %s exited (%s): replaced", i, process.exitcode)
                    self._processes[i] = self._start()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 1 if failed else 0

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop = True

    def _start(self) -> tuple[BaseProcess, float]:
        process = _spawn.Process(
            target=_run, args=(self.target, self.sockets, os.getpid()), daemon=False
        )
        process.start()
        return process, time.monotonic()

    def _stop_all(self) -> None:
        for process, _ in self._processes:
            if process.is_alive() and process.pid is not None:
                process.terminate()  # SIGTERM: each worker drains
        deadline = time.monotonic() + self.drain_seconds + 1
        for process, _ in self._processes:
            process.join(max(deadline - time.monotonic(), 0))
            if process.is_alive():
                log.error("worker pid=%s did not stop within the drain time: killed", process.pid)
                process.kill()
                process.join()


def _run(
    target: Callable[[Sequence[socket.socket]], int], sockets: list[socket.socket], parent: int
) -> None:
    """A worker's body (in the spawned interpreter)."""
    _stop_with_parent(parent)
    raise SystemExit(target(sockets))


def _stop_with_parent(parent: int) -> None:
    """A worker whose parent was killed (SIGKILL, OOM) must not serve on, unsupervised: on Linux
    the kernel sends it SIGTERM then (prctl PR_SET_PDEATHSIG), and so it drains."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the call
        os.kill(os.getpid(), signal.SIGTERM)
