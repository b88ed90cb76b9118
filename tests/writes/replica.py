"""A gateway process's write service, alone, for the crash tests: `python -m
tests.writes.replica <sandbox url> <sqlite path | redis url> <key>` submits one disposition with
its key, prints the answer as a JSON line, and keeps its worker running until killed."""

from __future__ import annotations

import asyncio
import json
import sys

from gateway.writes import OutboxWrites, WriteSettings
from gateway.writes.redis_store import RedisStore
from gateway.writes.sqlite_store import SqliteStore
from gateway.writes.store import Store
from sources import CrmClient, SourceSettings, Transport
from tests.writes.conftest import task_intent

SETTINGS = WriteSettings(
    deadline_ms=1000,
    backoff_base_seconds=0.01,
    backoff_max_seconds=0.05,
    claim_idle_seconds=1.5,
    poll_seconds=0.02,
    # at 10-50 ms backoffs the default 10 attempts are spent in under a second: on a loaded
    # machine the first of 1,000 writes queued during an outage were dead letters before the
    # last was submitted. These tests are about delivery; dead letters have their own
    max_attempts=100_000,
)


def crm_client(sandbox: str) -> CrmClient:
    """Breakers that reopen quickly: the tests restore the CRM and expect prompt delivery."""
    settings = SourceSettings(name="crm", base_url=f"{sandbox}/crm", breaker_open_seconds=0.1)
    return CrmClient(Transport(settings))


def store_for(where: str) -> Store:
    if where.startswith("redis://"):
        return RedisStore(where, 3600, SETTINGS.claim_idle_seconds)
    return SqliteStore(where)


async def main(sandbox: str, where: str, key: str) -> None:
    writes = OutboxWrites(store_for(where), crm_client(sandbox), SETTINGS)
    await writes.start()
    result = await writes.submit(task_intent(key, "contact-crash"))
    print(json.dumps({"writeId": result.write_id, "status": result.status}), flush=True)
    await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
