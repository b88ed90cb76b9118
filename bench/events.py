"""`python -m bench.events`: webhook received -> the subscriber's frame, for the screen pops of
issue #14.

    python -m bench.events [--agents 1 100 1000] [--calls 40] [--gap-ms 250]
                           [--deployments one replicas] [--quick] [--json bench/results/events.json]

Starts the sandbox (every data system answering after 20 ms), then per deployment the gateway:
`one` process with the in-process broker, or two `replicas` sharing a redis-server started here
(`[events] redis_url`). Agents connect from this process (bench/events_fleet.py), each with its
own token and a graphql-transport-ws subscription to `screenPops` with a desktop's selection
(the interaction, and the customers with the screen-pop query's selection plus phones).

Each simulated call: `POST /_sandbox/calls` (ring 0: the CCaaS contact is assigned to the agent
at once; ID&V passes `gap` later) sets up the contact the gateway re-reads, and this process
posts the call's Amazon Connect events itself, signed, to the gateway (replica A): INITIATED
(-> OFFERED), CONNECTED_TO_AGENT (-> CONNECTED), CONTACT_DATA_UPDATED with the ID&V pass
(-> VERIFIED), then the call is ended in the sandbox and DISCONNECTED posted (-> ENDED). One
event every `gap` ms, calls one after another (a steady, non-saturating rate), round robin over
the agents; across replicas every measured agent is on replica B, so every frame crosses Redis.
Latency: from handing the POST to aiohttp to the frame arriving on the agent's socket.

Per deployment and number of agents: frames received / expected and p50/p95/p99 per frame kind,
back-end calls per event (one warm-up call, from the sandbox's counters), the gateways' CPU;
memory per idle subscriber (one process, 100 and 1,000); the goals, met or missed. Writes
bench/results/events.json and events.md (docs/performance.md, "Events").
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import aiohttp
from graphql import FieldNode, OperationDefinitionNode, parse, print_ast

from tests.support.processes import (
    BENCH_BUDGETS,
    BENCH_RATE_LIMIT,
    gateway_starting,
    sandbox_server,
)

from .cli import _run
from .events_calls import Run, agent_name, call, point
from .events_fleet import KEEPALIVE_S, Agent, Fleet
from .events_results import (
    EventsRun,
    EventsSettings,
    Memory,
    Point,
    goals,
    markdown,
    table,
)
from .harness import LATENCY_MS, machine, progress
from .load import rss_mb
from .results import to_json
from .scenarios import SCREEN_POP
from .seam import client_env

__all__ = ["DOCUMENT", "main", "parse_options"]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = ROOT / "bench" / "results" / "events.json"
DEPLOYMENTS = {"one": "one process", "replicas": "two replicas"}
HYDRATION_LEVELS = 4
MAX_CONNECTIONS_HEADROOM = 1000
"""`[server] max_connections` of the gateways: the agents' sockets plus the default's 1,000."""
DERIVATION = (
    "level 1: the CCaaS contact re-read (its agent must be the subscriber); level 2: the CRM "
    "customer of its profile; level 3, needing the customer's ids: core accounts, cards, events, "
    "risk, CCaaS contacts, CRM cases; level 4: core transactions of those accounts and knowledge "
    "articles for the contacts' intents"
)
INTERVAL = (
    "from the moment this process hands the signed POST /webhooks/ccaas (signature already "
    "computed, keep-alive loopback connection) to aiohttp, to the moment the agent's socket "
    "yields the `next` frame (before it is decoded); one clock (perf_counter), one event loop"
)


def _document() -> str:
    """The subscription a desktop opens: the screen-pop query's customer selection (the query
    bench's, bench/scenarios.py) plus phones, and the interaction's own fields."""
    [operation] = parse(SCREEN_POP).definitions
    assert isinstance(operation, OperationDefinitionNode)
    [root] = operation.selection_set.selections
    assert isinstance(root, FieldNode) and root.selection_set is not None
    customer = print_ast(root.selection_set)
    return (
        "subscription Desk { screenPops { cursor event "
        "interaction { id channel state startedAt agentId intent idvResult verified } "
        f"customers {{ phones {{ number type }} {customer[1:]} }} }}"
    )


DOCUMENT = _document()


class Options(argparse.Namespace):
    agents: list[int]
    calls: int
    gap_ms: int
    deployments: list[str]
    customers: int
    quick: bool
    json: str


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.events", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--agents", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--calls", type=int, default=40, help="measured calls per point")
    parser.add_argument("--gap-ms", type=int, default=250, help="between a call's events")
    parser.add_argument(
        "--deployments", nargs="+", default=list(DEPLOYMENTS), choices=list(DEPLOYMENTS)
    )
    parser.add_argument("--customers", type=int, default=5000, help="sandbox population")
    parser.add_argument("--json", default=str(DEFAULT_JSON), help="where to write the results")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 1 and 4 agents, 2 calls per point"
    )
    o = parser.parse_args(argv, namespace=Options())
    if o.quick:
        o.agents, o.calls, o.gap_ms, o.customers = [1, 4], 2, 150, min(o.customers, 2000)
    if min(o.agents) < 1 or o.calls < 1 or o.gap_ms < 50:
        parser.error("--agents and --calls must be at least 1, --gap-ms at least 50")
    o.agents = sorted(set(o.agents))
    o.deployments = list(dict.fromkeys(o.deployments))
    return o


@contextmanager
def redis_server() -> Iterator[tuple[str, int]]:
    """A throwaway redis-server on a free loopback port (as tests/support/redis.py starts
    one): (URL, pid)."""
    server = shutil.which("redis-server")
    if server is None:
        raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0", process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


async def deployment(
    run: Run, o: Options, name: str, gateways: list[tuple[str, int]]
) -> tuple[list[Point], Memory | None]:
    """Every number of agents on one deployment: connected from the most (after the memory
    figures, one process only) down to one, disconnecting the surplus between points."""
    webhooks = f"{gateways[0][0]}/webhooks/ccaas"  # replica A receives every webhook

    def home(i: int) -> str:  # across replicas: even agents on B (measured), odd on A (idle)
        return gateways[-1 if i % 2 == 0 else 0][0]

    def agent(i: int) -> Agent:
        url = home(i).replace("http://", "ws://") + "/graphql"
        return Agent(agent_name(i), run.tokens[agent_name(i)], url)

    pids = (
        {"gateway": gateways[0][1]}
        if len(gateways) == 1
        else {"replica A": gateways[0][1], "replica B": gateways[1][1]}
    )
    most = max(o.agents)
    fleet = Fleet.open(DOCUMENT)
    try:
        memory = None
        if len(gateways) == 1:
            memory = await _memory(run, fleet, agent, o.agents, gateways[0][1], webhooks)
        else:
            await fleet.connect([agent(i) for i in range(most)])
            await _settle(most)
        points: list[Point] = []
        for n in reversed(o.agents):
            await fleet.disconnect([agent_name(i) for i in range(n, most)])
            await _settle(n)
            measured = [agent_name(i) for i in range(n) if home(i) == gateways[-1][0]]
            points.append(await point(run, fleet, name, n, measured, webhooks, pids))
        return points[::-1], memory
    finally:
        await fleet.aclose()


async def _memory(
    run: Run,
    fleet: Fleet,
    agent: Callable[[int], Agent],
    levels: list[int],
    pid: int,
    webhooks: str,
) -> Memory | None:
    """RSS with one subscription after a call warmed every code path, then with N idle
    subscriptions for each N > 1 (connected in increasing order, nothing else in between)."""
    await fleet.connect([agent(0)])
    await _settle(1)
    await call(run, fleet, webhooks, agent_name(0))
    await asyncio.sleep(0.5)
    base = rss_mb(pid)
    rss: dict[str, float] = {}
    for n in levels:
        if n > 1:
            await fleet.connect([agent(i) for i in range(n)])
            await _settle(n)
            rss[str(n)] = round(rss_mb(pid), 1)
    if len(fleet.connected) != max(levels):
        raise RuntimeError(f"{len(fleet.connected)} of {max(levels)} agents subscribed")
    per = {n: round((v - base) * 1024 / (int(n) - 1), 1) for n, v in rss.items()}
    return Memory(round(base, 1), rss, per) if rss else None


async def _settle(n: int) -> None:
    """Time for the gateway to register the last subscriptions with its broker (it has no
    counter of them to poll)."""
    await asyncio.sleep(0.5 + n / 1000)


async def run_all(o: Options) -> EventsRun:
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    machine_at_start = machine()
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    extra = BENCH_RATE_LIMIT + BENCH_BUDGETS + f'\n[webhooks.ccaas]\nsecrets = ["{secret}"]\n'
    env = {
        **client_env("aiohttp"),
        "SWITCHBOARD_SERVER_ACCESS_LOG": "false",
        # every WebSocket holds one of `[server] max_connections` (default 1,000): with as many
        # desktops, the webhooks themselves would be answered 503
        "SWITCHBOARD_SERVER_MAX_CONNECTIONS": str(max(o.agents) + MAX_CONNECTIONS_HEADROOM),
    }
    points: list[Point] = []
    memory: Memory | None = None
    with sandbox_server(o.customers) as (sandbox, sandbox_pid):
        connector = aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_S)
        async with aiohttp.ClientSession(connector=connector) as session:
            run = Run(o.gap_ms, o.calls, sandbox, sandbox_pid, secret, session)
            if o.quick:  # a few agents: the counters settle at once
                run.settle_reads = 4
            progress(f"minting {max(o.agents)} agents' tokens")
            await run.mint(max(o.agents))
            for key in o.deployments:
                name = DEPLOYMENTS[key]
                with ExitStack() as processes:
                    toml = extra
                    if key == "replicas":
                        redis, _ = processes.enter_context(redis_server())
                        toml += f'\n[events]\nredis_url = "{redis}"\n'
                    progress(f"{name}: starting")
                    starting = [
                        processes.enter_context(gateway_starting(sandbox, toml, env=env))
                        for _ in range(1 if key == "one" else 2)
                    ]
                    gateways = [s.ready() for s in starting]
                    if not run.customer:
                        await run.latency(0)
                        await run.pick_customer(gateways[0][0])
                    await run.latency(LATENCY_MS)
                    found, measured_memory = await deployment(run, o, name, gateways)
                    points += found
                    memory = memory or measured_memory
            await run.latency(0)
    critical = HYDRATION_LEVELS * LATENCY_MS
    return EventsRun(
        started=started,
        machine=machine_at_start,
        settings=EventsSettings(
            customers=o.customers,
            agents=o.agents,
            deployments=[DEPLOYMENTS[d] for d in o.deployments],
            calls=o.calls,
            gap_ms=o.gap_ms,
            sandbox_latency_ms=LATENCY_MS,
            hydration_levels=HYDRATION_LEVELS,
            critical_path_ms=critical,
            derivation=DERIVATION,
            document=DOCUMENT,
            interval=INTERVAL,
            quick=o.quick,
        ),
        points=points,
        memory=memory,
        goals=goals(points, memory, critical),
    )


def _raise_fd_limit(agents: int) -> None:
    """A socket per agent here, and as many in the gateways (which inherit the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * agents + 1024
    if soft != resource.RLIM_INFINITY and soft < wanted:
        top = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))


def main(argv: Sequence[str] | None = None) -> int:
    o = parse_options(argv)
    _raise_fd_limit(max(o.agents))
    out = _run(run_all(o))
    print(table(out))
    path = Path(o.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(out), indent=2) + "\n")
    path.with_suffix(".md").write_text(markdown(out))
    print(f"written: {path} and {path.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
