"""`python -m bench --soak SECONDS`: the gateway's RSS over a sustained screen-pop load."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from tests.support.processes import (
    gateway_process,
    sandbox_server,
)

from .harness import EXECUTION_ENV, Bench, Options, gateway_toml, machine, progress, sha256
from .load import cpu_seconds, drive, peak_rss_mb, rss_mb
from .results import SoakResult
from .scenarios import IVR, SCENARIOS
from .seam import client_env

__all__ = ["soak"]


async def soak(options: Options) -> SoakResult:
    """The screen-pop at concurrency 16 for `options.soak` seconds on the gateway in the first
    mode of `--execution`; its RSS sampled every few seconds. Flat means the end within 10% of
    the first sample after warm-up."""
    o = options
    o.scenarios = ["screenpop"]
    samples: list[tuple[float, float]] = []
    step = 2.0 if o.soak < 60 else 10.0
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
            started = time.monotonic()
            cpu_before = cpu_seconds(pid)
            requests = errors = 0
            while (elapsed := time.monotonic() - started) < o.soak:
                samples.append((round(elapsed, 1), round(rss_mb(pid), 1)))
                result = await drive(
                    gateway,
                    payload,
                    headers,
                    concurrency=16,
                    seconds=min(step, o.soak - elapsed),
                    warmup=0,
                    pid=pid,
                )
                requests += result.requests
                errors += result.errors
                progress(f"soak {elapsed:.0f}s: rss {samples[-1][1]} MiB, {requests} ops")
            samples.append((round(time.monotonic() - started, 1), round(rss_mb(pid), 1)))
            cpu = cpu_seconds(pid) - cpu_before
            peak = peak_rss_mb(pid)
    first, last = samples[0][1], samples[-1][1]
    highest = max(rss for _, rss in samples)
    return SoakResult(
        machine=machine(),
        client=o.clients[0],
        execution=o.execution[0],
        seconds=o.soak,
        concurrency=16,
        requests=requests,
        errors=errors,
        ops_per_cpu_s=round(requests / cpu, 1) if cpu else None,
        rss_first_mb=first,
        rss_last_mb=last,
        rss_max_mb=highest,
        peak_rss_mb=round(peak, 1),
        growth_pct=round((last / first - 1) * 100, 1),
        flat_within_10pct=highest <= first * 1.10,
        samples=samples,
    )
