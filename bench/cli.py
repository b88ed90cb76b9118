"""The benchmark harness: one command for every figure of the Performance issues.

    python -m bench [--seconds 5] [--warmup 2] [--scenarios screenpop ivr ...] [--quick]
                    [--execution compiled standard] [--clients wire aiohttp httpx]
                    [--json bench/results/latest.json]
    python -m bench --soak 300          RSS of the gateway over a sustained screen-pop load
    python -m bench --soak 600 --mix    the same over a mixed load with rotating faults

It starts the sandbox systems, the gateway once per execution mode (`compiled` and `standard`,
SWITCHBOARD_SERVER_EXECUTION) and the floor (bench/floor.py) as separate processes on 127.0.0.1
and drives them from this one (bench/load.py, closed loop), one process under load at a time.
For each scenario (bench/scenarios.py), on each gateway mode and then on the floor:

- back-end calls per operation, from the sandbox's counters, next to the optimum;
- p50/p99 at concurrency 1 with every system answering after 20 ms, next to the critical path;
- throughput and p99 at concurrency 1/16/64 with no sandbox latency;
- operations per CPU-second of the process under test (the headline, at concurrency 16: CPU
  time from /proc survives a noisy shared machine), CPU per back-end call, microseconds per
  resolved field, and the process's peak RSS (VmHWM);
- on the gateway, from its `GET /metrics` around each measured window: which execution ran the
  operations (compiled, or standard and why: the fallback rate) and the compiled projection's
  microseconds per projected field ("-" while the gateway has no /metrics).

The peer (GraphQL Mesh + Hive Gateway, bench/peer.py) is measured the same way on the
workloads it can answer (supervisor-10, supervisor-100, screenpop) when Node >= 20 and the npm
registry allow its install (`--peer auto`, the default but with --quick), and skipped with the
reason otherwise. On those workloads every process's answer is checked against the sandbox's
REST data (bench/peer_check.py).

It checks that both modes and the floor return the same `data`, prints the two modes side by
side, every figure (also as a ratio to the floor), the peer's table and ratios, the targets of
the compiled-execution issue and issue #18's goals (bench/peer_goals.py) evaluated from this run,
and writes the JSON file (and the tables as Markdown next to it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import tempfile
import time
from collections.abc import Coroutine, Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from tests.support.processes import Starting, floor_starting, gateway_starting, sandbox_server

from .harness import (
    EXECUTION_ENV,
    LATENCY_MS,
    PEER,
    Bench,
    Options,
    compare,
    gateway_toml,
    machine,
    progress,
    sha256,
)
from .load import tree_peak_rss_mb
from .peer import Peer, peer_starting, prepare
from .peer_check import PEER_SCENARIOS, checked, mesh_payload
from .peer_goals import goals
from .report import fmt, goal_text, markdown, table, warnings
from .results import (
    Figures,
    Optimum,
    PeerInfo,
    Run,
    ScenarioResult,
    Settings,
    SoakResult,
    TransportCost,
    to_json,
)
from .scenarios import IVR, SCENARIOS
from .seam import client_env, transport_cost
from .soak import soak
from .targets import EXECUTION_MODES, HEADLINE_CONCURRENCY, targets

__all__ = ["main", "parse", "run"]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = ROOT / "bench" / "results" / "latest.json"

T = TypeVar("T")


async def run(options: Options) -> Run:
    """A whole `python -m bench`: the sandbox, then per HTTP client the transport seam alone and
    every scenario on each process under test, compared; the targets evaluated at the end."""
    o = options
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    machine_at_start = machine()
    transport: dict[str, TransportCost] = {}
    runs: dict[str, dict[str, ScenarioResult]] = {}
    peer, peer_info = _peer(o)
    peaks: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        sandbox_server(o.customers) as (sandbox, sandbox_pid),
    ):
        manifest = Path(tmp) / "trusted-documents.json"
        manifest.write_text(json.dumps({sha256(IVR): IVR}))
        extra = gateway_toml(str(manifest))
        bench = Bench(o, sandbox, sandbox_pid)
        await bench.prepare()
        for client in o.clients:
            progress(f"{client}: the transport seam alone")
            transport[client] = await transport_cost(sandbox, client, o.transport_calls)
            # no access log line per request: the floor writes none either
            env = {**client_env(client), "SWITCHBOARD_SERVER_ACCESS_LOG": "false"}
            results: dict[str, ScenarioResult] = {}
            # One process per gateway mode and the floor, each kept for every scenario, all
            # started together up front (and idle but for the one being measured) so that a
            # scenario's figures on each are taken seconds apart, not a whole run apart.
            with ExitStack() as processes:
                names = [f"the gateway ({mode})" for mode in o.execution]
                progress(f"{client}: starting {', '.join(names + ['the floor'][o.no_floor :])}")
                starting: dict[str, Starting] = {
                    mode: processes.enter_context(
                        gateway_starting(sandbox, extra, env={**env, EXECUTION_ENV: mode})
                    )
                    for mode in o.execution
                }
                if not o.no_floor:
                    starting["floor"] = processes.enter_context(floor_starting(sandbox, env=env))
                if peer is not None:
                    progress(f"{client}: composing and starting the peer (Hive Gateway)")
                    starting[PEER] = processes.enter_context(
                        peer_starting(peer, sandbox, jwt=o.peer_jwt)
                    )
                under_test = {target: s.ready() for target, s in starting.items()}
                if "screenpop" in o.scenarios:
                    reference = "standard" if "standard" in under_test else o.execution[0]
                    await bench.pick_phone(under_test[reference][0])
                for scenario in bench.scenarios():
                    row: dict[str, Figures] = {}
                    variables = bench.request(scenario)[0]["variables"]
                    for target, (url, pid) in under_test.items():
                        payload = None
                        if target == PEER:
                            if scenario.name not in PEER_SCENARIOS:
                                continue
                            payload = mesh_payload(scenario.name, variables)
                        progress(f"{client}: {scenario.name} on {_where(target)}")
                        row[target] = await bench.measure(
                            scenario,
                            url,
                            pid,
                            metrics=target in o.execution,
                            payload=payload,
                        )
                    if scenario.name in PEER_SCENARIOS:
                        row = await checked(sandbox, scenario.name, variables, row, PEER)
                    results[scenario.name] = compare(row, o.execution)
                for target, (_, pid) in under_test.items():
                    peaks[target] = max(peaks.get(target, 0.0), round(tree_peak_rss_mb(pid), 1))
            runs[client] = results
    out = Run(
        started=started,
        machine=replace(machine_at_start, loadavg_at_end=list(os.getloadavg())),
        settings=Settings(
            seconds=o.seconds,
            warmup=o.warmup,
            concurrency=o.concurrency,
            customers=o.customers,
            execution=o.execution,
            sandbox_latency_ms=LATENCY_MS,
            headline_concurrency=HEADLINE_CONCURRENCY,
            quick=o.quick,
        ),
        optimum={
            name: Optimum(SCENARIOS[name].optimum_calls, SCENARIOS[name].derivation)
            for name in o.scenarios
        },
        transport=transport,
        runs=runs,
        targets=targets(runs),
        peer=peer_info,
        peak_rss_mb=peaks,
    )
    return replace(out, goals=goals(_json_dict(out)))


def _json_dict(out: Run) -> dict[str, Any]:
    written = to_json(out)
    assert isinstance(written, dict)
    return written


def _where(target: str) -> str:
    if target == "floor":
        return "the floor"
    return "the peer (Hive Gateway)" if target == PEER else f"the gateway ({target})"


def _peer(o: Options) -> tuple[Peer | None, PeerInfo]:
    """The peer installed and ready to start, or why not (with `--peer on`, a reason fails
    the run)."""
    if o.peer == "off":
        return None, PeerInfo(ran=False, reason="not asked (--peer off)")
    if o.peer == "auto" and o.quick:
        return None, PeerInfo(ran=False, reason="not with --quick (--peer on to run it)")
    if not set(o.scenarios) & set(PEER_SCENARIOS):
        reason = f"none of its workloads asked ({', '.join(PEER_SCENARIOS)})"
        return None, PeerInfo(ran=False, reason=reason)
    progress("the peer: checking Node and installing (npm ci) if needed")
    found = prepare()
    if isinstance(found, str):
        if o.peer == "on":
            raise SystemExit(f"the peer cannot run: {found}")
        progress(f"the peer is skipped: {found}")
        return None, PeerInfo(ran=False, reason=found)
    return found, replace(found.info(), jwt=o.peer_jwt)


def parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per point")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per point")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument(
        "--scenarios",
        nargs="+",
        choices=list(SCENARIOS),
        metavar="NAME",
        help=f"among {', '.join(SCENARIOS)} (default: all; with --quick: screenpop)",
    )
    parser.add_argument(
        "--execution",
        nargs="+",
        default=list(EXECUTION_MODES),
        choices=EXECUTION_MODES,
        help="the gateway's execution mode(s), each its own process (default: both)",
    )
    parser.add_argument(
        "--clients",
        nargs="+",
        default=["wire"],
        choices=["aiohttp", "httpx", "wire"],
        help="HTTP client(s) behind the transport seam, each measured in turn",
    )
    parser.add_argument("--customers", type=int, default=5000, help="sandbox population")
    parser.add_argument("--json", default=str(DEFAULT_JSON), help="where to write the results")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: points of a fraction of a second, screenpop unless --scenarios",
    )
    parser.add_argument("--no-floor", action="store_true", help="skip the floor")
    parser.add_argument(
        "--transport-calls", type=int, default=4000, help="calls for the seam-alone figure"
    )
    parser.add_argument(
        "--soak", type=float, default=0.0, metavar="SECONDS", help="run the RSS soak instead"
    )
    parser.add_argument(
        "--mix",
        action="store_true",
        help="with --soak: screen-pops, IVR and 20-id supervisor lists at concurrency 8 "
        "under rotating faults (core timing out, knowledge garbage, CCaaS failing half)",
    )
    parser.add_argument(
        "--peer",
        choices=["auto", "on", "off"],
        default="auto",
        help="the peer (Mesh + Hive Gateway): auto runs it when Node >= 20 and npm ci "
        "allow (not with --quick), on requires it, off skips it",
    )
    parser.add_argument(
        "--peer-jwt",
        action="store_true",
        help="the peer verifies the bearer token against the sandbox's JWKS, as Switchboard does",
    )
    options = parser.parse_args(argv, namespace=Options())
    options.execution = list(dict.fromkeys(options.execution))
    if not options.scenarios:  # not given
        options.scenarios = ["screenpop"] if options.quick else list(SCENARIOS)
    if options.quick:
        options.seconds, options.warmup = 0.3, 0.1
        options.transport_calls = min(options.transport_calls, 200)
        options.customers = min(options.customers, 2000)
    return options


def _run(main: Coroutine[Any, Any, T]) -> T:
    """On uvloop, as the gateway and the floor run (uvicorn's default when it is installed)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C: every process the run started (the peer in its own session
    included) is stopped by the `with` that started it."""
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    options = parse(argv)
    out: Run | SoakResult
    if options.soak > 0:
        out = _run(soak(options))
        growth = out.growth_mb_per_min_last_half
        print(
            f"soak{' --mix' if out.mix else ''} {out.seconds:.0f}s at concurrency "
            f"{out.concurrency}: RSS first {out.rss_first_mb} / last {out.rss_last_mb} / max "
            f"{out.rss_max_mb} MiB ({out.growth_pct:+.1f}%), last half "
            f"{'-' if growth is None else f'{growth:+.3f}'} MiB/min, peak {out.peak_rss_mb}; "
            f"{out.requests} ops, {out.errors} failed, flat within 10%: "
            f"{fmt(out.flat_within_10pct)}"
        )
        for kind, n in out.by_kind.items():
            print(f"  {kind}: {n.ok} ok, {n.partial} partial, {n.failed} failed")
        if out.gc is not None:
            print(
                f"  GC: {out.gc.collections} collections, {out.gc.over_10ms} over 10 ms, "
                f"longest {'' if out.gc.longest_exact else '<='}{out.gc.longest_ms} ms, "
                f"{fmt(out.gc.cpu_share, 3)} of the gateway's CPU"
            )
        print(goal_text(out.goals))
    else:
        out = _run(run(options))
        print(table(out))
        for client, seam in out.transport.items():
            print(
                f"transport seam alone [{client}]: {seam.cpu_ms_per_call:.3f} ms CPU per call "
                f"({fmt(seam.calls_per_cpu_s, 0)} calls per CPU-second, concurrency 16)"
            )
        for warning in warnings(out):
            print(warning)
    path = Path(options.json)
    if options.soak > 0 and options.json == str(DEFAULT_JSON):
        path = path.with_name("soak-mix.json" if options.mix else "soak.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(out), indent=2) + "\n")
    print(f"written: {path}")
    if isinstance(out, Run):
        path.with_suffix(".md").write_text(markdown(out))
        print(f"written: {path.with_suffix('.md')}")
    return 0
