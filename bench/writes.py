"""Writes to the CRM (issue #15): what a write costs and how fast the outbox drains.

    python -m bench.writes [--writes 2000] [--pending 1000] [--mutations 500] [--quick]

- **CPU per write, direct path**: `submit` of dispositions that the CRM applies at once, one
  after another; CPU of this process (event loop, the SQLite thread, the HTTP client, JSON)
  per write. The sandbox runs in its own process, so its CPU is not counted.
- **Drain after recovery**: `--pending` writes accepted as PENDING while the CRM's writes are
  down, then the CRM restored; the wall time from the restore to an empty outbox, and the CRM
  records counted (each write exactly once).

Both for the SQLite store and, when redis-server is installed, the Redis store. The retry
settings are the bench's own (printed): the drain time is bounded below by the backoff the
pending writes have reached when the CRM comes back.

- **CPU per mutation, end to end** (bench/mutations.py): `--mutations` `recordDisposition`
  mutations through a gateway in its own process (`switchboard serve`, default settings, the
  SQLite outbox), one after another and at concurrency 8; the gateway's CPU per mutation, p50
  and p99 latency, and the CRM records made (each mutation exactly once).

`--quick` measures a tenth of each (a smoke run, not figures to quote).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import httpx

from gateway.writes import OutboxWrites, WriteIntent, WriteSettings
from gateway.writes.redis_store import RedisStore
from gateway.writes.sqlite_store import SqliteStore
from gateway.writes.store import Store
from sources import CrmClient, SourceSettings, Transport
from tests.support.processes import sandbox_process

from . import mutations

SETTINGS = WriteSettings(
    deadline_ms=2000,
    backoff_base_seconds=0.05,
    backoff_max_seconds=1.0,
    claim_idle_seconds=30.0,
    poll_seconds=0.05,
    worker_concurrency=32,
    # the drain measures delivery after an outage, not dead-lettering: at 50 ms backoffs the
    # default 10 attempts could all be spent (the CRM's breaker still open) on a loaded machine
    max_attempts=100_000,
)


QUICK = {"writes": 200, "pending": 100, "outage_seconds": 0.5, "mutations": 50}
LEVELS = (1, 8)
"""The mutations' concurrency levels: one agent after another, and eight at once."""


def _intent(key: str, interaction: str) -> WriteIntent:
    return WriteIntent(
        operation="recordDisposition",
        issuer="https://idp.bench",
        subject="agent-0001",
        idempotency_key=key,
        target=interaction,
        crm_object="Task",
        fields={
            "InteractionId__c": interaction,
            "WhoId": None,
            "CallDisposition": "RESOLVED",
            "Description": "bench note",
            "OwnerId": "agent-0001",
        },
    )


def _crm(sandbox: str) -> CrmClient:
    settings = SourceSettings(
        name="crm", base_url=f"{sandbox}/crm", breaker_open_seconds=0.5, max_in_flight=32
    )
    return CrmClient(Transport(settings))


async def _writes_fault(sandbox: str, mode: str) -> None:
    async with httpx.AsyncClient(base_url=sandbox) as http:
        (await http.post("/_sandbox/faults/writes", json={"mode": mode})).raise_for_status()


async def _tasks(sandbox: str, interaction: str) -> int:
    async with httpx.AsyncClient(base_url=sandbox, timeout=60) as http:
        answer = await http.get("/crm/tasks", params={"interactionId": interaction})
    count: int = answer.json()["totalSize"]
    return count


async def cpu_per_write(sandbox: str, store: Store, n: int) -> float:
    """Microseconds of this process's CPU per directly applied write."""
    crm = _crm(sandbox)
    writes = OutboxWrites(store, crm, SETTINGS)
    await writes.start()
    try:
        run = uuid.uuid4().hex
        for i in range(50):  # warm-up: connections, the file, caches
            await writes.submit(_intent(f"warm-{run}-{i}", f"warm-{run}"))
        started = time.process_time()
        for i in range(n):
            result = await writes.submit(_intent(f"{run}-{i}", run))
            if result.status != "APPLIED":
                raise RuntimeError(f"write not applied: {result}")
        spent = time.process_time() - started
    finally:
        await writes.aclose()
        await crm.transport.aclose()
    return spent / n * 1e6


async def drain(sandbox: str, store: Store, n: int, outage: float = 3.0) -> tuple[float, int]:
    """Seconds from the CRM's recovery to an empty outbox, and the CRM records made."""
    crm = _crm(sandbox)
    writes = OutboxWrites(store, crm, SETTINGS)
    await writes.start()
    run = uuid.uuid4().hex
    try:
        await _writes_fault(sandbox, "down")
        for start in range(0, n, 50):
            batch = range(start, min(start + 50, n))
            results = await asyncio.gather(
                *(writes.submit(_intent(f"{run}-{i}", run)) for i in batch)
            )
            if any(r.status != "PENDING" for r in results):
                raise RuntimeError("a write was not PENDING while the CRM was down")
        await asyncio.sleep(outage)  # let the backoffs grow, as in a real outage
        await _writes_fault(sandbox, "ok")
        restored = time.monotonic()
        while await writes.pending():  # noqa: ASYNC110 - polling the outbox
            await asyncio.sleep(0.01)
        seconds = time.monotonic() - restored
    finally:
        await _writes_fault(sandbox, "ok")
        await writes.aclose()
        await crm.transport.aclose()
    return seconds, await _tasks(sandbox, run)


async def _measure(
    sandbox: str, name: str, make: Callable[[], Store], args: argparse.Namespace
) -> None:
    writes, pending = args.writes, args.pending
    cpu = await cpu_per_write(sandbox, make(), writes)
    seconds, records = await drain(sandbox, make(), pending, args.outage_seconds)
    if records != pending:
        raise RuntimeError(f"{records} CRM records for {pending} writes")
    print(
        f"{name:7s} CPU per write (direct, APPLIED): {cpu:7.0f} us   "
        f"drain {pending} pending after recovery: {seconds:5.2f} s ({records} CRM records)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.writes", description=__doc__)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--pending", type=int, default=1000)
    parser.add_argument("--outage-seconds", type=float, default=3.0)
    parser.add_argument("--mutations", type=int, default=500, help="per level; 0: none")
    parser.add_argument("--quick", action="store_true", help="about a tenth of each default")
    args = parser.parse_args(argv)
    if args.quick:  # the quick defaults; a count given explicitly still wins
        parser.set_defaults(**QUICK)
        args = parser.parse_args(argv)
    if min(args.writes, args.pending) < 1 or args.mutations < 0 or args.outage_seconds < 0:
        parser.error("--writes and --pending must be >= 1, --mutations and --outage-seconds >= 0")
    print(
        f"settings: backoff {SETTINGS.backoff_base_seconds}-{SETTINGS.backoff_max_seconds} s "
        f"full jitter, worker_concurrency {SETTINGS.worker_concurrency}, "
        f"poll {SETTINGS.poll_seconds} s; CRM breaker reopens after 0.5 s"
    )
    with ExitStack() as stack:
        sandbox = stack.enter_context(sandbox_process(customers=1000))
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        counter = iter(range(1_000_000))

        def sqlite() -> Store:
            return SqliteStore(str(folder / f"outbox-{next(counter)}.sqlite3"))

        asyncio.run(_measure(sandbox, "sqlite", sqlite, args))
        if shutil.which("redis-server"):
            from tests.support.redis import redis_server

            url = stack.enter_context(redis_server())

            def redis() -> Store:
                return RedisStore(url, SETTINGS.retention_seconds, SETTINGS.claim_idle_seconds)

            asyncio.run(_measure(sandbox, "redis", redis, args))
        if args.mutations:
            outbox = str(folder / "gateway-outbox.sqlite3")
            for run in mutations.measure(sandbox, outbox, args.mutations, LEVELS):
                print(run.line())
                if run.first_error is not None:
                    print(f"  first failure: {run.first_error}")
                if run.applied != run.mutations or run.records != run.mutations:
                    raise RuntimeError(f"{run.records} CRM records for {run.mutations} mutations")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
