"""A whole `recordDisposition` mutation through the gateway (issue #15): what it costs the
gateway in CPU, how long an agent waits for it, and that each makes exactly one CRM record.

bench/writes.py measures the write service alone (`submit`); this drives the real thing: the
gateway started with `switchboard serve` in its own process (its CPU read from /proc before and
after, so neither this client's nor the sandbox's CPU is counted), an agent's token minted by the
sandbox IdP, a live contact of that agent, and `recordDisposition` on it with a fresh
idempotency key each - parsing, validation, the limits, authorisation, the contact and customer
reads, the outbox, the CRM write and the answer. Run by `python -m bench.writes`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import orjson

from sources.sandbox.client import mint_token, sample_customers, start_contact
from tests.support.processes import BENCH_BUDGETS, BENCH_RATE_LIMIT, gateway_process

from .load import cpu_seconds

__all__ = ["DISPOSE", "MutationRun", "gateway_toml", "measure"]

AGENT = "agent-0001"
WARMUP = 20
DISPOSE = """mutation Dispose($input: RecordDispositionInput!) {
  recordDisposition(input: $input) { writeId status recordId code message }
}"""


@dataclass(frozen=True, slots=True)
class MutationRun:
    """One level of concurrency: `mutations` sent, `applied` answered APPLIED, `records` the
    CRM holds for the level's contact afterwards (both must equal `mutations`)."""

    concurrency: int
    mutations: int
    applied: int
    records: int
    gateway_cpu_ms: float
    """Gateway CPU (user + system) per mutation over the measured mutations."""
    p50_ms: float
    p99_ms: float
    first_error: str | None

    def line(self) -> str:
        return (
            f"mutation recordDisposition, concurrency {self.concurrency}: "
            f"gateway CPU {self.gateway_cpu_ms:5.2f} ms/mutation, "
            f"p50 {self.p50_ms:5.1f} ms, p99 {self.p99_ms:5.1f} ms "
            f"({self.applied}/{self.mutations} APPLIED, {self.records} CRM records)"
        )


def gateway_toml(outbox: str) -> str:
    """The bench's configuration on top of the gateway's defaults: one token drives all the
    load, so the per-caller limits are out of the way (they still run); the outbox in a file of
    the bench's own."""
    return BENCH_RATE_LIMIT + BENCH_BUDGETS + f'\n[writes]\noutbox_path = "{outbox}"\n'


def _percentile(latencies: Sequence[float], p: float) -> float:
    ordered = sorted(latencies)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def _records(sandbox: str, interaction: str) -> int:
    async with httpx.AsyncClient(base_url=sandbox, timeout=60) as http:
        answer = await http.get("/crm/tasks", params={"interactionId": interaction})
    answer.raise_for_status()
    count: int = answer.json()["totalSize"]
    return count


class _Client:
    """Sends dispositions of one contact, each with a fresh idempotency key."""

    def __init__(self, http: aiohttp.ClientSession, url: str, token: str) -> None:
        self.http = http
        self.url = url + "/graphql"
        self.headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}

    async def dispose(self, contact: str) -> tuple[float, str | None]:
        """(latency in ms, None if APPLIED else what came back instead)."""
        variables = {
            "input": {
                "interactionId": contact,
                "code": "RESOLVED",
                "note": "Customer asked about a late fee; waived.",
                "idempotencyKey": str(uuid.uuid4()),
            }
        }
        body = orjson.dumps({"query": DISPOSE, "variables": variables})
        started = time.perf_counter()
        async with self.http.post(self.url, data=body, headers=self.headers) as response:
            raw = await response.read()
        ms = (time.perf_counter() - started) * 1000
        if response.status != 200:
            return ms, f"{response.status}: {raw[:300].decode(errors='replace')}"
        answer: dict[str, Any] = orjson.loads(raw)
        result = (answer.get("data") or {}).get("recordDisposition") or {}
        if result.get("status") != "APPLIED":
            return ms, raw[:300].decode(errors="replace")
        return ms, None

    async def run(self, contact: str, n: int, concurrency: int) -> list[tuple[float, str | None]]:
        """`n` dispositions by `concurrency` workers, each sending its next one as soon as the
        previous answer arrives."""
        remaining = iter(range(n))
        outcomes: list[tuple[float, str | None]] = []

        async def worker() -> None:
            for _ in remaining:
                outcomes.append(await self.dispose(contact))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return outcomes


async def _level(
    client: _Client, sandbox: str, pid: int, contact: str, n: int, concurrency: int
) -> MutationRun:
    before = cpu_seconds(pid)
    outcomes = await client.run(contact, n, concurrency)
    spent = cpu_seconds(pid) - before
    errors = [error for _, error in outcomes if error is not None]
    return MutationRun(
        concurrency=concurrency,
        mutations=n,
        applied=n - len(errors),
        records=await _records(sandbox, contact),
        gateway_cpu_ms=spent * 1000 / n,
        p50_ms=_percentile([ms for ms, _ in outcomes], 50),
        p99_ms=_percentile([ms for ms, _ in outcomes], 99),
        first_error=errors[0] if errors else None,
    )


async def _measure(
    url: str, pid: int, sandbox: str, n: int, levels: Sequence[int]
) -> list[MutationRun]:
    token = await mint_token(sandbox, sub=AGENT, roles=["agent"], ttl=24 * 3600)
    customers = await sample_customers(sandbox, len(levels) + 1)
    # a contact per level (and one for the warm-up), so that each level's CRM records count
    # exactly its own mutations
    contacts = [
        await start_contact(sandbox, customer_id=c["id"], agent_id=AGENT) for c in customers
    ]
    connector = aiohttp.TCPConnector(limit=max(levels))
    async with aiohttp.ClientSession(connector=connector) as http:
        client = _Client(http, url, token)
        warm = await client.run(contacts[0], WARMUP, max(levels))
        failed = [error for _, error in warm if error is not None]
        if failed:
            raise RuntimeError(f"a warm-up disposition was not APPLIED: {failed[0]}")
        return [
            await _level(client, sandbox, pid, contact, n, concurrency)
            for contact, concurrency in zip(contacts[1:], levels, strict=True)
        ]


def measure(sandbox: str, outbox: str, n: int, levels: Sequence[int] = (1, 8)) -> list[MutationRun]:
    """`n` dispositions at each concurrency of `levels` through a gateway started for the
    purpose (SQLite outbox at `outbox`, a file of its own)."""
    with gateway_process(sandbox, gateway_toml(outbox)) as (url, pid):
        return asyncio.run(_measure(url, pid, sandbox, n, levels))
