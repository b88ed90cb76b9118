"""A closed-loop load driver: `concurrency` workers each send the next request as soon as the
previous answer arrives, for a fixed duration after a warm-up. Latencies are wall-clock per
request; the gateway's CPU is read from the OS for its process (/proc), not from this one."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["LoadResult", "cpu_seconds", "drive"]


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    gateway_cpu_s: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index]

    def row(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "rps": round(self.rps, 1),
            "p50_ms": round(self.percentile(50), 1),
            "p99_ms": round(self.percentile(99), 1),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 1) if self.latencies_ms else None,
            "ops_per_cpu_s": round(self.requests / self.gateway_cpu_s, 1)
            if self.gateway_cpu_s
            else None,
        }


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    import os

    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


async def drive(
    url: str,
    payload: dict[str, Any],
    headers: dict[str, str],
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
    pid: int,
    accept_errors: bool = False,
) -> LoadResult:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:

        async def once() -> tuple[float, bool]:
            started = time.perf_counter()
            response = await http.post("/graphql", json=payload, headers=headers)
            body = response.json()
            failed = response.status_code != 200 or ("errors" in body and not accept_errors)
            return (time.perf_counter() - started) * 1000, failed

        async def worker(until: float, sink: list[tuple[float, bool]]) -> None:
            while time.perf_counter() < until:
                sink.append(await once())

        warm: list[tuple[float, bool]] = []
        await asyncio.gather(
            *(worker(time.perf_counter() + warmup, warm) for _ in range(concurrency))
        )
        measured: list[tuple[float, bool]] = []
        cpu_before = cpu_seconds(pid)
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(*(worker(until, measured) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu_before
    return LoadResult(
        requests=len(measured),
        errors=sum(1 for _, failed in measured if failed),
        seconds=elapsed,
        latencies_ms=[ms for ms, _ in measured],
        gateway_cpu_s=cpu,
    )
