"""`python -m bench.memory`: where one gateway worker's memory and collector time go.

    python -m bench.memory [--scenarios supervisor-100 screenpop] [--seconds 10]
                           [--execution compiled] [--saveall] [--types] [--tracemalloc]

Starts the sandbox and one gateway (production settings, as `python -m bench` does) with a
probe loaded through PYTHONPATH (bench/memprobe/sitecustomize.py: every collection timed by a
`gc.callbacks` hook), drives each scenario at concurrency 16 and prints per scenario: ops per
CPU-second, RSS and peak RSS (VmHWM), collections per generation with the longest pause, and
(--saveall) the objects that only the cycle collector freed per request (DEBUG_SAVEALL), by type;
(--types) what the collector tracks after the run; (--tracemalloc) the allocations that grew.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from sources import SYSTEMS
from sources.sandbox.client import set_fault
from tests.support.processes import gateway_process, sandbox_server

from .harness import EXECUTION_ENV, Bench, Options, gateway_toml, sha256
from .load import cpu_seconds, drive, peak_rss_mb, rss_mb
from .scenarios import IVR, SCENARIOS
from .seam import client_env

PROBE = Path(__file__).resolve().parent / "memprobe"


class Probe:
    def __init__(self, directory: str, pid: int) -> None:
        self.dir = Path(directory)
        self.pid = pid

    async def ask(self, command: str) -> dict[str, Any]:
        out = self.dir / "out.json"
        out.unlink(missing_ok=True)
        (self.dir / "cmd").write_text(command)
        os.kill(self.pid, signal.SIGUSR1)
        for _ in range(600):
            if out.exists():
                answer: dict[str, Any] = json.loads(out.read_text())
                if "error" in answer:
                    raise RuntimeError(f"the probe failed {command!r}: {answer['error']}")
                return answer
            await asyncio.sleep(0.05)
        raise RuntimeError(f"the probe did not answer {command!r}")


async def main(o: argparse.Namespace) -> None:
    options = Options()
    options.scenarios = ["screenpop", "ivr", "supervisor-10"] if o.mix else o.scenarios
    options.customers = 5000
    with (
        tempfile.TemporaryDirectory() as tmp,
        sandbox_server(options.customers) as (sandbox, sandbox_pid),
    ):
        manifest = Path(tmp) / "trusted-documents.json"
        manifest.write_text(json.dumps({sha256(IVR): IVR}))
        bench = Bench(options, sandbox, sandbox_pid)
        await bench.prepare()
        env = {
            **client_env("aiohttp"),
            "SWITCHBOARD_SERVER_ACCESS_LOG": "false",
            EXECUTION_ENV: o.execution,
            "PYTHONPATH": str(PROBE),
            "MEMPROBE_DIR": tmp,
        }
        with gateway_process(sandbox, gateway_toml(str(manifest)), env=env) as (gateway, pid):
            probe = Probe(tmp, pid)
            if "screenpop" in o.scenarios or o.mix:
                await bench.pick_phone(gateway)
            print(f"gateway pid {pid}, start RSS {rss_mb(pid):.1f} MiB")
            if o.tracemalloc:
                await probe.ask("tm_start")
            if o.threshold:
                print(f"threshold: {(await probe.ask('threshold ' + o.threshold))['threshold']}")
            for fault in o.faults:
                system, mode = fault.split("=")
                rate = 0.5 if mode == "half" else None
                await set_fault(sandbox, system, mode="error" if rate else mode, error_rate=rate)
            if o.mix:
                await mix(bench, gateway, pid, sandbox, o.mix)
                return
            for name in o.scenarios:
                scenario = SCENARIOS[name]
                payload, headers = bench.request(scenario)
                args: dict[str, Any] = dict(concurrency=16, pid=pid, accept_errors=bool(o.faults))
                await drive(gateway, payload, headers, seconds=o.warmup, warmup=0, **args)
                if o.live:  # what is tracked while the load runs (in-flight requests)
                    load = asyncio.ensure_future(
                        drive(gateway, payload, headers, seconds=3, warmup=0, **args)
                    )
                    await asyncio.sleep(1.5)
                    if o.tracemalloc:
                        top = await probe.ask("tm_top lineno")
                        print("   live allocations while loaded (tracemalloc, by line):")
                        for t in top["top"]:
                            print(
                                f"      {t['size_kb']:9.1f} KiB {t['count']:7d}  {t['trace'][-1]}"
                            )
                    live = await probe.ask("types")
                    exceptions = await probe.ask("exceptions")
                    await load
                    print(
                        f"   live while loaded: {live['tracked']} tracked, by gen {live['by_gen']}"
                    )
                    for kind, n in live["types"][: o.top]:
                        print(f"      {n:8d}  {kind}")
                    print("   live exceptions:")
                    for kind, n in exceptions["exceptions"]:
                        print(f"      {n:8d}  {kind}")
                await probe.ask("stats")
                cpu = cpu_seconds(pid)
                run = await drive(gateway, payload, headers, seconds=o.seconds, warmup=0, **args)
                cpu = cpu_seconds(pid) - cpu
                stats = await probe.ask("stats")
                line = (
                    f"{name}: {run.requests} ops ({run.errors} errors), "
                    f"{run.requests / cpu:.1f} ops/CPU-s, p50 {run.percentile(50):.0f} "
                    f"p99 {run.percentile(99):.0f} ms, RSS {rss_mb(pid):.1f} peak "
                    f"{peak_rss_mb(pid):.1f} MiB"
                )
                print(
                    line + (f"\n   first error: {run.first_error[:300]}" if run.first_error else "")
                )
                for gen, p in stats["pauses"].items():
                    print(
                        f"   gen{gen}: {p['n']} collections, max {p['max_ms']:.1f} ms "
                        f"(CPU {p['max_cpu_ms']:.1f}), total {p['sum_ms']:.0f} ms "
                        f"(CPU {p['sum_cpu_ms']:.0f}), "
                        f"per 1000 ops {1000 * p['n'] / max(run.requests, 1):.1f}"
                    )
                print(
                    f"   collected (cycle garbage objects) per op: "
                    f"{sum(stats['collected']) / max(run.requests, 1):.0f}"
                )
                if o.saveall:
                    await probe.ask("saveall_on")
                    run = await drive(gateway, payload, headers, seconds=2, warmup=0, **args)
                    garbage = await probe.ask("saveall_off")
                    per = garbage["garbage"] / max(run.requests, 1)
                    print(
                        f"   DEBUG_SAVEALL: {garbage['garbage']} objects in cycles over "
                        f"{run.requests} ops = {per:.1f} per op"
                    )
                    for kind, n in garbage["types"][: o.top]:
                        print(f"      {n / max(run.requests, 1):10.1f}  {kind}")
                    print("   roots of the garbage (referred to by no other garbage):")
                    for kind, n in garbage["roots"]:
                        print(f"      {n / max(run.requests, 1):10.2f}  {kind}")
                    print("   cycles (strongly connected components), by shape:")
                    for n, shape in garbage["cycles"]:
                        print(f"      {n / max(run.requests, 1):8.2f} per op: " + ", ".join(shape))
            if o.types:
                await probe.ask("collect")
                held = await probe.ask("contexts")
                print("contexts still holding a request's scope, by holder:")
                for holder, n in held["contexts"]:
                    print(f"   {n:6d}  {holder}")
                types = await probe.ask("types")
                print(f"tracked objects: {types['tracked']} by gen {types['by_gen']}")
                for kind, n in types["types"][: o.top]:
                    print(f"   {n:8d}  {kind}")
            if o.tracemalloc:
                diff = await probe.ask("tm_diff")
                print(f"tracemalloc: traced now/peak MiB {diff['traced_mb']}")
                for s in diff["top"]:
                    print(
                        f"   {s['size_kb']:9.1f} KiB {s['count']:7d}  "
                        + " | ".join(t.strip() for t in s["trace"] if t.strip().startswith("File"))[
                            -400:
                        ]
                    )
            if os.environ.get("MEMPROBE_WATCH"):
                for stack, n in (await probe.ask("stacks"))["stacks"]:
                    print(f"{n:7d} {stack}")
            print(f"end RSS {rss_mb(pid):.1f} peak {peak_rss_mb(pid):.1f} MiB")


PHASES = [
    ("no faults", {}),
    ("core timing out", {"core": ("timeout", 0.0)}),
    ("knowledge answering garbage", {"knowledge": ("garbage", 0.0)}),
    ("ccaas failing half its calls", {"ccaas": ("error", 0.5)}),
]


async def mix(bench: Bench, gateway: str, pid: int, sandbox: str, seconds: float) -> None:
    """Screen-pops, IVR and 20-id supervisor lists at once (concurrency 8 in all), the faults
    rotating every 15 s; RSS sampled at the end of each phase."""
    loads = [
        (*bench.request(SCENARIOS["screenpop"]), 3),
        (*bench.request(SCENARIOS["ivr"]), 2),
        (*bench.request(replace(SCENARIOS["supervisor-10"], ids=20)), 3),
    ]
    started = time.monotonic()
    cpu = cpu_seconds(pid)
    ops = errors = 0
    first = None
    phase = 0
    while time.monotonic() - started < seconds:
        name, faults = PHASES[phase % len(PHASES)]
        for system in SYSTEMS:
            mode, rate = faults.get(system, ("ok", 0.0))
            await set_fault(sandbox, system, mode=mode, error_rate=rate)
        runs = await asyncio.gather(
            *(
                drive(
                    gateway,
                    payload,
                    headers,
                    concurrency=c,
                    seconds=15,
                    warmup=0,
                    pid=pid,
                    accept_errors=True,
                )
                for payload, headers, c in loads
            )
        )
        ops += sum(r.requests for r in runs)
        errors += sum(r.errors for r in runs)
        rss = rss_mb(pid)
        first = first or rss
        print(
            f"{time.monotonic() - started:6.0f} s  {name:30s} RSS {rss:6.1f} MiB "
            f"({100 * (rss - first) / first:+.1f}%), peak {peak_rss_mb(pid):.1f}, {ops} ops"
        )
        phase += 1
    for system in SYSTEMS:
        await set_fault(sandbox, system, mode="ok", error_rate=0.0)
    print(f"mix: {ops} ops ({errors} non-200), {ops / (cpu_seconds(pid) - cpu):.1f} ops/CPU-s")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--scenarios", nargs="+", default=["supervisor-100", "screenpop"])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--execution", default="compiled", choices=["compiled", "standard"])
    parser.add_argument("--saveall", action="store_true")
    parser.add_argument("--types", action="store_true")
    parser.add_argument("--threshold", default="", help='e.g. "700 10 10": gc.set_threshold')
    parser.add_argument("--live", action="store_true", help="tracked objects during the load")
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument(
        "--faults",
        nargs="*",
        default=[],
        help="system=mode (ok, error, timeout, garbage, down, half)",
    )
    parser.add_argument(
        "--mix",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="the mixed load with rotating faults instead of the scenarios",
    )
    parser.add_argument("--top", type=int, default=25)
    return parser.parse_args()


if __name__ == "__main__":
    started = time.monotonic()
    asyncio.run(main(parse()))
    print(f"({time.monotonic() - started:.0f} s)")
