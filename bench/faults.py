"""Latency with a system down and another slow, next to the same load with no faults.

    python -m bench.faults [--seconds 10] [--concurrency 1 8]

The sandbox answers every call after 20 ms (as a real system might); the fault run takes core
banking down (connections dropped) and makes the CCaaS platform answer in 300 ms. The gateway
runs in its own process with its default 2 s deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from sources.sandbox.client import mint_token, sample_customers, set_fault
from tests.support.processes import (
    BENCH_BUDGETS,
    BENCH_RATE_LIMIT,
    gateway_process,
    sandbox_process,
)

from .load import drive
from .scenarios import SCREEN_POP


async def run(seconds: float, concurrencies: list[int]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with sandbox_process(customers=2000, latency_ms=20) as sandbox:
        token = await mint_token(sandbox, sub="supervisor-0001", roles=["supervisor"])
        phone = (await sample_customers(sandbox, 1))[0]["phones"][0]
        payload = {"query": SCREEN_POP, "variables": {"phone": phone}}
        headers = {"authorization": f"Bearer {token}"}
        with gateway_process(sandbox, BENCH_RATE_LIMIT + BENCH_BUDGETS) as (url, pid):
            for scenario in ("no faults", "core down, ccaas slow"):
                faulty = scenario != "no faults"
                await set_fault(sandbox, "core", mode="down" if faulty else "ok")
                await set_fault(sandbox, "ccaas", latency_ms=300 if faulty else 20)
                for concurrency in concurrencies:
                    result = await drive(
                        url,
                        payload,
                        headers,
                        concurrency=concurrency,
                        seconds=seconds,
                        warmup=min(2.0, seconds / 3),
                        pid=pid,
                        accept_errors=faulty,
                    )
                    rows.append({"scenario": scenario, "concurrency": concurrency, **result.row()})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    rows = asyncio.run(run(args.seconds, args.concurrency))
    print(f"{'scenario':<24}{'conc':>5}{'reqs':>7}{'rps':>8}{'p50 ms':>9}{'p99 ms':>9}")
    for r in rows:
        print(
            f"{r['scenario']:<24}{r['concurrency']:>5}{r['requests']:>7}{r['rps']:>8}"
            f"{r['p50_ms']:>9}{r['p99_ms']:>9}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
