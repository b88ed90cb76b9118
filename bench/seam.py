"""The transport seam alone, measured in this process (no gateway around it)."""

from __future__ import annotations

import asyncio
import time

from sources import SYSTEMS, Sources, SourceSettings
from sources.sandbox.client import (
    sample_customers,
)

from .results import TransportCost

__all__ = ["client_env", "transport_cost"]


def client_env(client: str) -> dict[str, str]:
    """The environment that has a gateway (or the floor) reach every system with `client`:
    the `[sources.<name>] client` setting of each system, through config's env mapping."""
    return {f"SWITCHBOARD_SOURCES_{name.upper()}_CLIENT": client for name in SYSTEMS}


async def transport_cost(sandbox: str, client: str, calls: int) -> TransportCost:
    """The seam alone, in this process: CPU per `Transport.get_json` (one party's accounts from
    core: a ~1 KB answer, JSON decoded, no record decoding) at concurrency 16."""
    sources = Sources.open(
        {
            name: SourceSettings(name=name, base_url=f"{sandbox}/{name}", client=client)
            for name in SYSTEMS
        }
    )
    try:
        sample = await sample_customers(sandbox, 1)
        [customer] = await sources.crm.customers("id", [sample[0]["id"]])
        params = [("partyId", customer.core_party_id or "")]
        transport = sources.core.transport
        assert transport.http.client == client

        async def worker(n: int) -> None:
            for _ in range(n):
                await transport.get_json("/accounts", params)

        concurrency = 16
        await asyncio.gather(*(worker(max(calls // 10 // concurrency, 1)) for _ in range(16)))
        per_worker = max(calls // concurrency, 1)
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(per_worker) for _ in range(concurrency)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        done = per_worker * concurrency
    finally:
        await sources.aclose()
    return TransportCost(
        calls=done,
        concurrency=concurrency,
        cpu_ms_per_call=round(cpu * 1000 / done, 4),
        calls_per_cpu_s=round(done / cpu, 1) if cpu else None,
        calls_per_s=round(done / wall, 1),
    )
