"""The never-lost promises over real sockets, with the sandbox CRM: a write the CRM cannot take
now is PENDING and delivered exactly once when it can; an ambiguous timeout lands on the same
record; a killed process's write is delivered after a restart (SQLite) or by another replica
(Redis); 1,000 pending writes drain after a recovery."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from gateway.writes import OutboxWrites
from gateway.writes.redis_store import GROUP, PREFIX
from sources.sandbox import running
from sources.sandbox.client import reset_stats, stats
from tests.support.processes import ROOT

from .conftest import StoreFactory, settled, task_intent
from .replica import SETTINGS, crm_client, store_for


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    """A sandbox of its own: these tests take its CRM down."""
    with running(customers=100) as url:
        yield url


async def _fault(sandbox: str, path: str, **fault: Any) -> None:
    async with httpx.AsyncClient(base_url=sandbox) as http:
        (await http.post(path, json=fault)).raise_for_status()


async def crm_down(sandbox: str) -> None:
    """The CRM's writes drop every connection (its reads stay up, so the tests can look)."""
    await _fault(sandbox, "/_sandbox/faults/writes", mode="down")


async def crm_restored(sandbox: str) -> None:
    await _fault(sandbox, "/_sandbox/faults", system="crm", mode="ok")
    await _fault(sandbox, "/_sandbox/faults/writes", mode="ok", latency_ms=0, times=None)


@pytest.fixture(autouse=True)
async def _restore(sandbox: str) -> AsyncIterator[None]:
    yield
    await crm_restored(sandbox)


async def tasks(sandbox: str, interaction: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=sandbox) as http:
        answer = await http.get("/crm/tasks", params={"interactionId": interaction})
    records: list[dict[str, Any]] = answer.json()["records"]
    return records


async def patches(sandbox: str) -> int:
    count: int = (await stats(sandbox))["crm"]["by_route"].get("PATCH /sobjects/Task", 0)
    return count


async def stop(writes: OutboxWrites) -> None:
    await writes.aclose()
    await writes.crm.transport.aclose()  # type: ignore[attr-defined]


@pytest.fixture
async def writes(new_store: StoreFactory, sandbox: str) -> AsyncIterator[OutboxWrites]:
    service = OutboxWrites(new_store(), crm_client(sandbox), SETTINGS)
    await service.start()
    try:
        yield service
    finally:
        await stop(service)


async def test_a_write_is_applied_at_once_and_the_same_key_twice_at_once_is_one_record(
    writes: OutboxWrites, sandbox: str
) -> None:
    interaction = f"contact-once-{uuid.uuid4().hex}"
    await reset_stats(sandbox)
    first, second = await asyncio.gather(
        writes.submit(task_intent(interaction, interaction)),
        writes.submit(task_intent(interaction, interaction)),
    )
    assert first == second and first.status == "APPLIED"
    [task] = await tasks(sandbox, interaction)
    assert task["Id"] == first.record_id
    assert await patches(sandbox) == 1


async def test_crm_down_pending_restored_exactly_one_record_applied(
    writes: OutboxWrites, sandbox: str, new_store: StoreFactory
) -> None:
    interaction = f"contact-down-{uuid.uuid4().hex}"
    await crm_down(sandbox)
    result = await writes.submit(task_intent(interaction, interaction))
    assert result.status == "PENDING"
    assert await tasks(sandbox, interaction) == []
    await crm_restored(sandbox)
    record = await settled(writes, result.write_id)
    assert record.status == "APPLIED"
    [task] = await tasks(sandbox, interaction)
    assert task["Id"] == record.record_id and task["ExternalId__c"] == record.external_id
    # the key again: the first result, no second record
    again = await writes.submit(task_intent(interaction, interaction))
    assert (again.write_id, again.status) == (result.write_id, "APPLIED")
    assert len(await tasks(sandbox, interaction)) == 1


async def test_applied_then_timeout_is_retried_onto_the_same_record(
    writes: OutboxWrites, sandbox: str
) -> None:
    interaction = f"contact-att-{uuid.uuid4().hex}"
    await _fault(sandbox, "/_sandbox/faults/writes", mode="applied_then_timeout", times=1)
    await reset_stats(sandbox)
    result = await writes.submit(task_intent(interaction, interaction))
    assert (result.status, result.code) == ("PENDING", "SOURCE_TIMEOUT")
    assert len(await tasks(sandbox, interaction)) == 1  # written, though we never heard
    record = await settled(writes, result.write_id)
    assert record.status == "APPLIED"
    [task] = await tasks(sandbox, interaction)
    assert task["Id"] == record.record_id
    assert await patches(sandbox) >= 2  # the retry went out, and updated the same record


async def test_a_killed_process_pending_write_is_delivered_after_restart_sqlite(
    sandbox: str, tmp_path: Path
) -> None:
    path = str(tmp_path / "outbox.sqlite3")
    await crm_down(sandbox)

    async def answered() -> bool:
        return True

    answer = await _run_and_kill(sandbox, path, "k-kill-sqlite", answered)
    assert answer["status"] == "PENDING"
    await crm_restored(sandbox)
    restarted = OutboxWrites(store_for(path), crm_client(sandbox), SETTINGS)
    await restarted.start()
    try:
        record = await settled(restarted, answer["writeId"])
    finally:
        await stop(restarted)
    assert record.status == "APPLIED"
    assert [t["Id"] for t in await tasks(sandbox, "contact-crash")] == [record.record_id]


async def test_another_replica_claims_a_killed_replicas_write_and_delivers_it_once(
    sandbox: str, redis_url: str
) -> None:
    flush = redis.from_url(redis_url)
    await flush.flushdb()
    interaction = "contact-crash"
    before = len(await tasks(sandbox, interaction))
    await _fault(sandbox, "/_sandbox/faults/writes", mode="timeout")  # deliveries hang

    async def delivery_out() -> bool:
        """The killed replica holds the write in the group's pending list (mid-delivery)."""
        return await _xpending(redis_url) > 0

    answer = await _run_and_kill(sandbox, redis_url, "k-kill-redis", delivery_out)
    assert answer["status"] == "PENDING"
    assert await flush.zcard(f"{PREFIX}:due") == 0  # only a claim can find it now
    await flush.aclose()
    await crm_restored(sandbox)
    await reset_stats(sandbox)
    second = OutboxWrites(store_for(redis_url), crm_client(sandbox), SETTINGS)
    await second.start()
    try:
        record = await settled(second, answer["writeId"])
    finally:
        await stop(second)
    assert record.status == "APPLIED"
    assert len(await tasks(sandbox, interaction)) == before + 1
    assert await patches(sandbox) == 1  # delivered once


async def test_a_thousand_pending_writes_drain_after_recovery(
    writes: OutboxWrites, sandbox: str
) -> None:
    interaction = f"contact-drain-{uuid.uuid4().hex}"
    await crm_down(sandbox)
    results = []
    for b in range(20):
        results += await asyncio.gather(
            *(writes.submit(task_intent(f"{interaction}-{b}-{n}", interaction)) for n in range(50))
        )
    assert {r.status for r in results} == {"PENDING"}
    assert await writes.pending() == 1000
    await crm_restored(sandbox)
    async with asyncio.timeout(120):  # a guard, not a timing assertion
        while await writes.pending():  # noqa: ASYNC110 - polling another system's state
            await asyncio.sleep(0.05)
    records = await tasks(sandbox, interaction)
    assert len(records) == 1000
    assert len({r["ExternalId__c"] for r in records}) == 1000
    final = [await writes.get(r.write_id) for r in results[:50]]
    assert {r.status for r in final if r is not None} == {"APPLIED"}


async def _xpending(url: str) -> int:
    client = redis.from_url(url)
    try:
        summary = await client.xpending(PREFIX, GROUP)
        return int(summary["pending"])
    except redis.ResponseError:
        return 0
    finally:
        await client.aclose()


async def _run_and_kill(
    sandbox: str, where: str, key: str, ready: Callable[[], Awaitable[bool]]
) -> dict[str, Any]:
    """Start a replica process that submits one write, wait for its answer and for `ready()`,
    then SIGKILL it: no clean-up of any kind runs."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.writes.replica",
        sandbox,
        where,
        key,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(30):  # a guard against hanging, not a timing assertion
            answer: dict[str, Any] = json.loads(await process.stdout.readline())
            while not await ready():  # noqa: ASYNC110 - polling another process
                await asyncio.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    return answer
