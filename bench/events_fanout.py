"""`python -m bench.events_fanout`: what one OFFERED event costs a replica with N screen-pop
subscribers, in one process, without sockets — the CPU figures that survive a loaded machine.

    python -m bench.events_fanout [--agents 1 100 1000] [--events 40] [--broker in-process redis]
                                  [--latency-ms 20] [--profile]

The gateway's own screen-pop feeds (gateway/events/screen_pops.py through the shared loop,
gateway/events/feed.py) subscribe N agents to a broker — the in-process one, or the Redis
Streams one on a redis-server started here — with one shared read per event
(gateway/events/reads.py) over fake back ends that answer after `--latency-ms` (the CCaaS
contact, whose agent is the call's, and its CRM customer). Each event is an OFFERED for the
next agent round robin; the next is published once the owner's frame is out and the process
is idle again. Per event:

- CPU ms (`time.process_time`, all of it: the broker's fan-out, the feeds woken, the shared
  read, the owner's frame);
- feeds woken: subscriptions handed the event (`Feed.frame` asked);
- callbacks: event-loop callbacks run (task steps, future callbacks: asyncio's pure-Python
  loop, whose `Handle._run` is counted);
- latency ms to the owner's frame, minus nothing: two back-end levels (contact, customer) are
  2 x latency of it; noisy on a shared machine, the CPU figures are not.

`--profile` prints the cProfile of the largest point's events (cumulative, top 25).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

from gateway.auth.authenticator import Principal
from gateway.events import screen_pops as pops_module
from gateway.events.broker import Broker, InProcessBroker
from gateway.events.mapping import CloudEvent
from gateway.events.redis_broker import RedisStreamsBroker
from gateway.events.screen_pops import screen_pops
from gateway.masking.guard import Guard
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from gateway.observability.audit import AuditLog
from sources.records import Contact, Customer
from tests.support.feeds import feed_context

__all__ = ["main"]

ISSUER = "https://idp.bench"
PROFILE = "p" * 32


def _customer() -> Customer:
    return Customer(
        "003SB0000000000001", "Ada", "Lovelace", date(1990, 1, 2), None, (), (), None,
        "MASS", None, "PTY1", PROFILE, None,
    )  # fmt: skip


class _Sources:
    """The CCaaS contact (its agent: the call's) and its CRM customer, after `latency` each."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.agent_of: dict[str, str] = {}
        self.calls = 0
        self.ccaas = SimpleNamespace(contacts=self._contacts)
        self.crm = SimpleNamespace(customers=self._customers)

    async def _contacts(self, ids: list[str]) -> list[Contact]:
        self.calls += 1
        await asyncio.sleep(self.latency)
        now = datetime.now(UTC)
        return [
            Contact(i, PROFILE, "VOICE", "INBOUND", now, None, "QUEUED", None,
                    self.agent_of.get(i), None, None, None, "NOT_ATTEMPTED", None, None)
            for i in ids
        ]  # fmt: skip

    async def _customers(self, key: str, values: list[str]) -> list[Customer]:
        self.calls += 1
        await asyncio.sleep(self.latency)
        return [_customer()]


@contextmanager
def _counting() -> Iterator[dict[str, int]]:
    """Event-loop callbacks run, and feeds handed an event, while inside."""
    counts = {"callbacks": 0, "woken": 0}
    handle_run = asyncio.events.Handle._run
    frame = pops_module._ScreenPops.frame

    def counted_run(self: asyncio.Handle) -> None:
        counts["callbacks"] += 1
        handle_run(self)

    async def counted_frame(self: Any, *args: Any) -> Any:
        counts["woken"] += 1
        return await frame(self, *args)

    asyncio.events.Handle._run = counted_run  # type: ignore[method-assign]
    pops_module._ScreenPops.frame = counted_frame  # type: ignore[method-assign,assignment]
    try:
        yield counts
    finally:
        asyncio.events.Handle._run = handle_run  # type: ignore[method-assign]
        pops_module._ScreenPops.frame = frame  # type: ignore[method-assign]


async def _idle() -> None:
    """Until nothing but this task is left to run (every woken feed back to waiting)."""
    for _ in range(3):
        await asyncio.sleep(0.01)


async def point(
    make: Callable[[], Broker], agents: int, events: int, latency: float, profile: bool
) -> dict[str, Any]:
    sources = _Sources(latency)
    guard = Guard(Policy.load(), Masker(b"bench-key"), AuditLog(lambda line: None))
    broker = make()
    context = feed_context(broker, sources, guard, request_id="bench")
    names = [f"agent-{n:04d}" for n in range(agents)]
    arrived: dict[str, asyncio.Future[float]] = {}

    async def desktop(name: str) -> None:
        principal = Principal(name, frozenset({"agent"}), ISSUER, time.time() + 3600, True)
        async for _pop in screen_pops(context, principal, None):
            waiting = arrived.pop(name, None)
            if waiting is not None and not waiting.done():
                waiting.set_result(time.perf_counter())

    tasks = [asyncio.ensure_future(desktop(n)) for n in names]
    for _ in range(1000):  # every feed subscribed (at most 10 s)
        if broker.subscribers == agents:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # a Redis reader started, subscriptions settled
    cpu: list[float] = []
    latencies: list[float] = []
    woken: list[int] = []
    callbacks: list[int] = []
    profiler = cProfile.Profile() if profile else None
    loop = asyncio.get_running_loop()
    for n in range(events + 1):  # the first one warms up
        owner = names[n % agents]
        contact = f"bench-contact-{n}-{time.time_ns()}"
        sources.agent_of[contact] = owner
        arrived[owner] = loop.create_future()
        event = CloudEvent(contact, "switchboard/ccaas", "interaction.offered",
                           "2026-12-06T03:00:00Z", contact, {}, received=time.time())  # fmt: skip
        with _counting() as counts:
            if profiler is not None and n:
                profiler.enable()
            started, started_cpu = time.perf_counter(), time.process_time()
            await broker.publish(event)
            at = await asyncio.wait_for(arrived[owner], 10)
            await _idle()
            spent = time.process_time() - started_cpu
            if profiler is not None:
                profiler.disable()
        if n:
            cpu.append(spent * 1000)
            latencies.append((at - started) * 1000)
            woken.append(counts["woken"])
            callbacks.append(counts["callbacks"])
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await broker.aclose()
    await guard.aclose()
    if profiler is not None:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(25)
    latencies.sort()
    return {
        "agents": agents,
        "events": events,
        "cpu_ms_per_event": round(statistics.median(cpu), 2),
        "feeds_woken_per_event": statistics.median(woken),
        "callbacks_per_event": statistics.median(callbacks),
        "latency_p50_ms": round(statistics.median(latencies), 1),
        "latency_p95_ms": round(latencies[max(0, int(len(latencies) * 0.95) - 1)], 1),
        "backend_calls": sources.calls,
    }


@contextmanager
def _brokers(kind: str) -> Iterator[Callable[[], Broker]]:
    if kind == "in-process":
        yield InProcessBroker
        return
    from .events import redis_server

    with redis_server() as (url, _pid):
        yield lambda: RedisStreamsBroker(url, block_ms=200)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.events_fanout", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--agents", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--events", type=int, default=40, help="measured OFFERED events")
    parser.add_argument(
        "--broker", nargs="+", default=["in-process", "redis"], choices=["in-process", "redis"]
    )
    parser.add_argument("--latency-ms", type=float, default=20.0, help="per back-end call")
    parser.add_argument("--profile", action="store_true", help="cProfile the largest point")
    o = parser.parse_args(argv)
    print(
        "| broker | agents | CPU ms / OFFERED | feeds woken / OFFERED | loop callbacks / OFFERED "
        "| owner's frame p50 / p95 ms | back-end calls |"
    )
    print("|---|---|---|---|---|---|---|")
    for kind in o.broker:
        with ExitStack() as stack:
            make = stack.enter_context(_brokers(kind))
            for agents in sorted(o.agents):
                profile = o.profile and agents == max(o.agents)
                # asyncio's own loop (not uvloop): its callbacks are counted
                r = asyncio.run(point(make, agents, o.events, o.latency_ms / 1000, profile))
                print(
                    f"| {kind} | {agents} | {r['cpu_ms_per_event']} | "
                    f"{r['feeds_woken_per_event']} | {r['callbacks_per_event']} | "
                    f"{r['latency_p50_ms']} / {r['latency_p95_ms']} | {r['backend_calls']} |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
