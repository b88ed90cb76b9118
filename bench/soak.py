"""`python -m bench --soak SECONDS [--mix]`: the gateway's RSS over a sustained load.

Without `--mix`: screen-pops at concurrency 16. With `--mix` (issue #18): 8 workers, each sending
in turn a screen-pop, an IVR lookup (a trusted document, by hash) and a 20-id supervisor list,
while the sandbox's faults rotate every `rotation` seconds through none, core timing out (never
answering: the gateway's deadline ends those calls), knowledge answering garbage (200 with a
malformed body) and CCaaS failing half its calls (503). Under a fault answers are partial (data
and errors): counted apart from failures (not a 200, or no data).

RSS (VmRSS) is sampled every few seconds; flat means the last half's least-squares slope is
small (`growth_mb_per_min_last_half`, the goal in bench/peer_goals.py) and the maximum within
10% of the first sample. The gateway's collector pauses over the whole soak come from its
GET /metrics.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from sources.sandbox.client import set_fault
from tests.support.processes import gateway_process, sandbox_server

from .harness import EXECUTION_ENV, Bench, Options, gateway_toml, machine, progress, sha256
from .load import cpu_seconds, drive, gc_window, peak_rss_mb, rss_mb, scrape_metrics
from .peer_goals import soak_goals
from .results import FaultPhase, KindCount, SoakResult
from .scenarios import IVR, SCENARIOS, Scenario
from .seam import client_env

__all__ = ["FAULTS", "MIX_CONCURRENCY", "growth_per_minute", "soak"]

MIX_CONCURRENCY = 8
FAULTS = ("none", "core timeout", "knowledge garbage", "ccaas 50% errors")
SUPERVISOR_20 = replace(SCENARIOS["supervisor-10"], name="supervisor-20", ids=20)
MIX = (SCENARIOS["screenpop"], SCENARIOS["ivr"], SUPERVISOR_20)


async def soak(options: Options) -> SoakResult:
    """The soak on the gateway in the first mode of `--execution`."""
    o = options
    o.scenarios = ["screenpop", "ivr", "supervisor-10"] if o.mix else ["screenpop"]
    concurrency = MIX_CONCURRENCY if o.mix else 16
    step = 2.0 if o.soak < 60 else 10.0
    samples: list[tuple[float, float]] = []
    counts: dict[str, list[int]] = {}
    phases: list[FaultPhase] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        sandbox_server(o.customers) as (sandbox, sandbox_pid),
    ):
        manifest = Path(tmp) / "trusted-documents.json"
        manifest.write_text(json.dumps({sha256(IVR): IVR}))
        bench = Bench(o, sandbox, sandbox_pid)
        await bench.prepare()
        env = {**client_env(o.clients[0]), EXECUTION_ENV: o.execution[0]}
        with gateway_process(sandbox, gateway_toml(str(manifest)), env=env) as (gateway, pid):
            await bench.pick_phone(gateway)
            async with aiohttp.ClientSession() as http:
                if o.mix:
                    await _mix(bench, gateway, o.warmup, {}, None)
                else:
                    payload, headers = bench.request(SCENARIOS["screenpop"])
                    await drive(
                        gateway,
                        payload,
                        headers,
                        concurrency=16,
                        seconds=o.warmup,
                        warmup=0,
                        pid=pid,
                    )
                metrics_before = await scrape_metrics(http, gateway)
                started = time.monotonic()
                cpu_before = cpu_seconds(pid)

                async def sample() -> None:
                    while True:
                        samples.append(
                            (round(time.monotonic() - started, 1), round(rss_mb(pid), 1))
                        )
                        progress(f"soak {samples[-1][0]:.0f}s: rss {samples[-1][1]} MiB")
                        await asyncio.sleep(step)

                sampler = asyncio.create_task(sample())
                try:
                    if o.mix:
                        rotation = max(5.0, min(30.0, o.soak / 8))
                        faults = asyncio.create_task(_rotate(sandbox, rotation, started, phases))
                        try:
                            await _mix(bench, gateway, o.soak, counts, started)
                        finally:
                            faults.cancel()
                            await asyncio.gather(faults, return_exceptions=True)
                            await _fault(sandbox, "none")
                    else:
                        payload, headers = bench.request(SCENARIOS["screenpop"])
                        result = await drive(
                            gateway,
                            payload,
                            headers,
                            concurrency=16,
                            seconds=o.soak,
                            warmup=0,
                            pid=pid,
                        )
                        counts["screenpop"] = [result.requests - result.errors, 0, result.errors]
                finally:
                    sampler.cancel()
                    await asyncio.gather(sampler, return_exceptions=True)
                samples.append((round(time.monotonic() - started, 1), round(rss_mb(pid), 1)))
                cpu = cpu_seconds(pid) - cpu_before
                peak = peak_rss_mb(pid)
                metrics_after = await scrape_metrics(http, gateway)
    first, last = samples[0][1], samples[-1][1]
    highest = max(rss for _, rss in samples)
    requests = sum(sum(c) for c in counts.values())
    out = SoakResult(
        machine=machine(),
        client=o.clients[0],
        execution=o.execution[0],
        seconds=o.soak,
        concurrency=concurrency,
        requests=requests,
        errors=sum(c[2] for c in counts.values()),
        ops_per_cpu_s=round(requests / cpu, 1) if cpu else None,
        rss_first_mb=first,
        rss_last_mb=last,
        rss_max_mb=highest,
        peak_rss_mb=round(peak, 1),
        growth_pct=round((last / first - 1) * 100, 1),
        flat_within_10pct=highest <= first * 1.10,
        samples=samples,
        mix=o.mix,
        growth_mb_per_min_last_half=growth_per_minute(samples),
        by_kind={kind: KindCount(*c) for kind, c in counts.items()},
        phases=phases,
        gc=gc_window(metrics_before, metrics_after, cpu),
    )
    written = json.loads(json.dumps({"mix": o.mix, **_figures(out)}))
    return replace(out, goals=soak_goals(written))


def _figures(out: SoakResult) -> dict[str, Any]:
    keys = ("peak_rss_mb", "rss_first_mb", "rss_last_mb", "rss_max_mb")
    return {"growth_mb_per_min_last_half": out.growth_mb_per_min_last_half} | {
        k: getattr(out, k) for k in keys
    }


def growth_per_minute(samples: list[tuple[float, float]]) -> float | None:
    """The least-squares slope of RSS (MiB per minute) over the samples of the second half of
    the run; None with fewer than 3 of them."""
    if not samples:
        return None
    half = samples[-1][0] / 2
    tail = [(t, rss) for t, rss in samples if t >= half]
    if len(tail) < 3:
        return None
    n = len(tail)
    mean_t = sum(t for t, _ in tail) / n
    mean_r = sum(r for _, r in tail) / n
    spread = sum((t - mean_t) ** 2 for t, _ in tail)
    if not spread:
        return None
    slope = sum((t - mean_t) * (r - mean_r) for t, r in tail) / spread
    return round(slope * 60, 3)


async def _fault(sandbox: str, fault: str) -> None:
    """One fault on, the others off."""
    await set_fault(sandbox, "core", mode="timeout" if fault == "core timeout" else "ok")
    await set_fault(sandbox, "knowledge", mode="garbage" if fault == "knowledge garbage" else "ok")
    await set_fault(sandbox, "ccaas", error_rate=0.5 if fault == "ccaas 50% errors" else 0.0)


async def _rotate(sandbox: str, rotation: float, started: float, log: list[FaultPhase]) -> None:
    for fault in itertools.cycle(FAULTS):
        await _fault(sandbox, fault)
        log.append(FaultPhase(round(time.monotonic() - started, 1), fault))
        progress(f"soak: fault {fault}")
        await asyncio.sleep(rotation)


async def _mix(
    bench: Bench,
    gateway: str,
    seconds: float,
    counts: dict[str, list[int]],
    started: float | None,
) -> None:
    """MIX_CONCURRENCY workers for `seconds`, each cycling through the mix's operations (from
    a different one); counts[kind] = [ok, partial, failed]."""
    requests: list[tuple[Scenario, bytes, dict[str, str]]] = []
    for scenario in MIX:
        payload, headers = bench.request(scenario)
        requests.append(
            (scenario, orjson.dumps(payload), {**headers, "content-type": "application/json"})
        )
    until = (started or time.monotonic()) + seconds
    endpoint = gateway.rstrip("/") + "/graphql"
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=MIX_CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def worker(offset: int) -> None:
            turn = itertools.cycle(requests[offset:] + requests[:offset])
            while time.monotonic() < until:
                scenario, body, headers = next(turn)
                try:
                    async with http.post(endpoint, data=body, headers=headers) as response:
                        raw, status = await response.read(), response.status
                    answer = orjson.loads(raw) if status == 200 else None
                except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError):
                    answer = None
                tally = counts.setdefault(scenario.name, [0, 0, 0])
                if not isinstance(answer, dict) or answer.get("data") is None:
                    tally[2] += 1
                else:
                    tally[1 if answer.get("errors") else 0] += 1

        await asyncio.gather(*(worker(i % len(requests)) for i in range(MIX_CONCURRENCY)))
