"""`python -m bench.routing`: what one gateway worker sustains answering contact flows'
routing lookups (`GET /routing/v1/context?phone=...`, the flat projection of
`Query.routingContext`, which runs the registered GraphQL operation).

The sandbox answers every back-end call after `--latency-ms` (20 ms: a CRM/core/CCaaS API on
the same network), in its own process; one gateway worker (`switchboard serve`) in another.
Load is open-loop: request i is sent at start + i/rate whatever came back before (a contact
center's calls do not wait for each other), and its latency counts from that scheduled moment,
so a gateway falling behind shows as latency, not as a slower send rate. Per rate: p50, p99,
max, answers that were partial (`degraded` not empty) and refusals. The goal (issue #19):
p99 <= 50 ms at 100 requests/s; "sustains" is the highest rate measured whose p99 is within it
with every answer whole.

Each rate is measured a second time without the gateway (`critical_path`, unless `--no-floor`):
the bench makes the lookup's back-end calls itself, so the tail the machine and the sandbox
impose on two dependent 20 ms levels is printed beside the gateway's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp

from sources import SYSTEMS
from sources.sandbox.client import mint_token, sample_customers
from tests.support.processes import (
    BENCH_BUDGETS,
    BENCH_RATE_LIMIT,
    gateway_process,
    sandbox_server,
)

from .load import cpu_seconds

__all__ = ["Point", "main"]

MANIFEST = Path(__file__).resolve().parents[1] / "docs" / "trusted-documents.json"
GOAL_MS = 50.0


@dataclass(frozen=True, slots=True)
class Point:
    rate: float
    requests: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    degraded: int
    refused: int
    gateway_cpu_ms: float
    """The gateway process's CPU time per request: what one worker can sustain at most is
    about 1000 / this, whatever else shares the machine."""
    sandbox_cpu_ms: float

    def within(self, goal_ms: float) -> bool:
        return self.p99_ms <= goal_ms and self.degraded == 0 and self.refused == 0


class Options(argparse.Namespace):
    rates: list[float]
    seconds: float
    latency_ms: float
    customers: int
    goal_ms: list[float]
    json: str | None
    floor: bool


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.routing", description=__doc__)
    parser.add_argument(
        "--rates",
        type=lambda s: [float(r) for r in s.split(",")],
        default=[50.0, 100.0, 150.0, 200.0, 300.0, 400.0],
        help="requests per second, comma-separated (default 50,100,150,200,300,400)",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="per rate (default 10)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="per back-end call")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument(
        "--goal-ms",
        type=lambda s: [float(g) for g in s.split(",")],
        default=[GOAL_MS, 75.0, 100.0],
        help="p99 goals to report the sustained rate for (default 50,75,100)",
    )
    parser.add_argument("--json", default=None, help="also write the points to this file")
    parser.add_argument(
        "--no-floor",
        dest="floor",
        action="store_false",
        help="skip the critical-path floor (the back-end calls without the gateway) per rate",
    )
    return parser.parse_args(argv, namespace=Options())


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


Lookup = Callable[[aiohttp.ClientSession, str], Awaitable[str]]
"""One lookup of a phone: "ok", "degraded" or "refused"."""


def via_gateway(url: str, token: str) -> Lookup:
    headers = {"authorization": f"Bearer {token}"}

    async def lookup(http: aiohttp.ClientSession, phone: str) -> str:
        params = {"phone": phone}
        async with http.get(f"{url}/routing/v1/context", params=params, headers=headers) as r:
            body = await r.json()
        if r.status != 200:
            return "refused"
        return "degraded" if body.get("degraded") else "ok"

    return lookup


def critical_path(sandbox: str) -> Lookup:
    """The floor: a phone lookup's back-end calls made by the bench itself, straight to the
    sandbox, without any gateway — the CRM search, then cases, contacts and risk at once (the
    two dependent levels the sandbox's APIs impose: only the search takes a phone). What the
    gateway's p99 is compared with: on the same machine, at the same rate."""

    async def get(http: aiohttp.ClientSession, path: str, params: dict[str, str]) -> Any:
        async with http.get(f"{sandbox}{path}", params=params) as r:
            r.raise_for_status()
            return await r.json()

    async def lookup(http: aiohttp.ClientSession, phone: str) -> str:
        found = (await get(http, "/crm/customers/search", {"phone": phone}))["records"]
        if len(found) != 1:
            return "ok"
        customer = found[0]
        reads = [get(http, "/crm/cases", {"customerId": customer["Id"]})]
        if customer.get("CcaasProfile__c"):
            params = {"profileId": customer["CcaasProfile__c"], "perProfile": "50"}
            reads.append(get(http, "/ccaas/contacts", params))
        if customer.get("CoreParty__c"):
            reads.append(get(http, "/core/risk", {"partyId": customer["CoreParty__c"]}))
        await asyncio.gather(*reads)
        return "ok"

    return lookup


async def measure(
    http: aiohttp.ClientSession,
    lookup: Lookup,
    phones: list[str],
    rate: float,
    seconds: float,
    pids: tuple[int, int],
) -> Point:
    total = int(rate * seconds)
    latencies: list[float] = []
    counts = {"degraded": 0, "refused": 0}

    async def one(i: int, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        outcome = await lookup(http, phones[i % len(phones)])
        latencies.append((time.perf_counter() - at) * 1000)
        if outcome != "ok":
            counts[outcome] += 1

    cpu = [cpu_seconds(pid) for pid in pids]
    start = time.perf_counter() + 0.2
    await asyncio.gather(*(one(i, start + i / rate) for i in range(total)))
    used = [
        (cpu_seconds(pid) - before) * 1000 / total for pid, before in zip(pids, cpu, strict=True)
    ]
    return Point(
        rate=rate,
        requests=total,
        p50_ms=round(_percentile(latencies, 0.50), 1),
        p99_ms=round(_percentile(latencies, 0.99), 1),
        max_ms=round(max(latencies), 1),
        **counts,
        gateway_cpu_ms=round(used[0], 2),
        sandbox_cpu_ms=round(used[1], 2),
    )


def table(points: list[Point], latency_ms: float, goals: Sequence[float] = (GOAL_MS,)) -> str:
    goal = f"p99 <= {GOAL_MS:g} ms"
    lines = [
        "| requests/s | requests | p50 ms | p99 ms | max ms | degraded | refused "
        f"| gateway CPU ms/req | sandbox CPU ms/req | {goal} |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        ok = "yes" if p.within(GOAL_MS) else "no"
        lines.append(
            f"| {p.rate:g} | {p.requests} | {p.p50_ms} | {p.p99_ms} | {p.max_ms} | "
            f"{p.degraded} | {p.refused} | {p.gateway_cpu_ms} | {p.sandbox_cpu_ms} | {ok} |"
        )
    lines.append("")
    for goal_ms in goals:
        sustained = [p.rate for p in points if p.within(goal_ms)]
        best = f"{max(sustained):g} requests/s" if sustained else "none of the rates measured"
        lines.append(
            f"One worker, {latency_ms:g} ms per back-end call: sustains {best} within p99 <= "
            f"{goal_ms:g} ms with whole answers."
        )
    cpu = sorted(p.gateway_cpu_ms for p in points)
    if cpu:
        lines.append(
            f"Gateway CPU per request (median over the rates): {cpu[len(cpu) // 2]} ms, so one "
            f"worker's ceiling on a free core is about {1000 / max(cpu[len(cpu) // 2], 0.01):.0f} "
            "requests/s."
        )
    return "\n".join(lines)


async def run(o: Options, floors: list[Point]) -> list[Point]:
    """The gateway's points; with `o.floor`, each rate's critical-path floor into `floors`."""
    extra = (
        BENCH_RATE_LIMIT
        + "[rate_limit.roles.ivr]\nrate = 1000000.0\nburst = 1000000\n"
        + BENCH_BUDGETS
        + f'\n[trusted_documents]\nmanifest = "{MANIFEST}"\nroles = ["ivr"]\n'
    )
    points: list[Point] = []
    with (
        sandbox_server(o.customers, o.latency_ms) as (sandbox, sandbox_pid),
        gateway_process(sandbox, extra, _ENV) as (
            url,
            gateway_pid,
        ),
    ):
        pids = (gateway_pid, sandbox_pid)
        token = await mint_token(sandbox, sub="ivr-bench", roles=["ivr"])
        phones = [c["phones"][0] for c in await sample_customers(sandbox, 200) if c["phones"]]
        lookups = {"gateway": via_gateway(url, token), "floor": critical_path(sandbox)}
        # one pool of kept-alive connections for every rate, as a contact platform keeps them
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512)) as http:
            for lookup in lookups.values():
                await measure(http, lookup, phones, 50.0, 2.0, pids)  # warm-up
            for rate in o.rates:
                for name, lookup in lookups.items():
                    if name == "floor" and not o.floor:
                        continue
                    point = await measure(http, lookup, phones, rate, o.seconds, pids)
                    if name == "floor":
                        floors.append(point)
                        print(f"  floor (no gateway): p50 {point.p50_ms} p99 {point.p99_ms}")
                    else:
                        points.append(point)
                        print(table(points[-1:], o.latency_ms).splitlines()[2], flush=True)
    return points


_ENV = {
    "SWITCHBOARD_SERVER_ACCESS_LOG": "false",
    # each rate measured on its own: a circuit opened by one overloaded point must not make the
    # next one's answers fast and partial (the breaker still runs)
    **{f"SWITCHBOARD_SOURCES_{s.upper()}_BREAKER_MIN_CALLS": "1000000" for s in SYSTEMS},
}


def floor_table(floors: list[Point]) -> str:
    """The critical path alone (no gateway) per rate: the best p99 any gateway could have."""
    lines = [
        "| requests/s | floor p50 ms | floor p99 ms | floor max ms |",
        "|---|---|---|---|",
    ]
    lines += [f"| {p.rate:g} | {p.p50_ms} | {p.p99_ms} | {p.max_ms} |" for p in floors]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    o = parse_options(argv)
    floors: list[Point] = []
    points = asyncio.run(run(o, floors))
    print(table(points, o.latency_ms, o.goal_ms))
    if floors:
        print("\nCritical path without the gateway (search, then 3 reads at once):")
        print(floor_table(floors))
    if o.json:
        out = {"gateway": [asdict(p) for p in points], "floor": [asdict(p) for p in floors]}
        Path(o.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
