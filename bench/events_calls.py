"""The calls of `python -m bench.events`: one simulated call driven event by event
(`call`), and one measured point of N subscribed agents (`point`).

A call's contact is set up through the sandbox's call API and its events are posted by this
process, signed as the sandbox signs its own, so that each webhook's send time is known here:
`POST /_sandbox/calls` with no ring (the contact is assigned to the agent at once) and the ID&V
pass half-way between CONNECTED and VERIFIED, then INITIATED, CONNECTED_TO_AGENT,
CONTACT_DATA_UPDATED (idv PASSED) and, after the call is ended in the sandbox, DISCONNECTED,
one `gap` apart. The CCaaS re-read the gateway makes on each event agrees with the event.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp

from sources import SYSTEMS
from sources.sandbox.client import mint_token, reset_stats, sample_customers, set_fault, stats
from sources.sandbox.webhooks import ccaas_event

from .events_fleet import Arrival, Fleet
from .events_results import EVENTS, EventFigures, Point, percentile
from .harness import _full, progress
from .load import cpu_seconds
from .scenarios import SCREEN_POP

__all__ = ["Run", "agent_name", "call", "point"]

FRAME_TIMEOUT_S = 2.0
"""A frame not arrived this long after its webhook is counted lost."""
SETTLE_READS, SETTLE_S = 10, 0.2
"""Back-end calls are read from the sandbox's counters once two reads SETTLE_S apart agree
(at most SETTLE_READS reads)."""
WEBHOOK_TYPE = {
    "OFFERED": "INITIATED",
    "CONNECTED": "CONNECTED_TO_AGENT",
    "VERIFIED": "CONTACT_DATA_UPDATED",
    "ENDED": "DISCONNECTED",
}


@dataclass(slots=True)
class Run:
    """What every point shares: the options, the sandbox, the secret, the tokens, the customer."""

    gap_ms: int
    calls: int
    sandbox: str
    sandbox_pid: int
    secret: str
    session: aiohttp.ClientSession
    tokens: dict[str, str] = field(default_factory=dict)
    customer: str = ""
    settle_reads: int = SETTLE_READS

    async def latency(self, ms: float) -> None:
        for system in SYSTEMS:
            await set_fault(self.sandbox, system, latency_ms=ms)

    async def mint(self, n: int) -> None:
        gate = asyncio.Semaphore(16)

        async def one(name: str) -> None:
            async with gate:
                form = {"sub": name, "roles": "agent", "ttl": str(24 * 3600), "alg": "RS256"}
                async with self.session.post(f"{self.sandbox}/idp/token", data=form) as r:
                    r.raise_for_status()
                    self.tokens[name] = (await r.json())["access_token"]

        await asyncio.gather(*(one(agent_name(i)) for i in range(n)))

    async def pick_customer(self, gateway: str) -> None:
        """A customer whose screen pop is complete (as the query bench's: one match, 10
        interactions, 20 journey events, open cases, accounts, cards, articles), so every pop
        hydrates the same, full context."""
        token = await mint_token(self.sandbox, sub="supervisor-0001", roles=["supervisor"])
        sample = await sample_customers(self.sandbox, 50)
        for customer in sample:
            payload = {"query": SCREEN_POP, "variables": {"phone": customer["phones"][0]}}
            headers = {"authorization": f"Bearer {token}"}
            async with self.session.post(f"{gateway}/graphql", json=payload, headers=headers) as r:
                body = await r.json()
            found = (body.get("data") or {}).get("findCustomers") or []
            if len(found) == 1 and not body.get("errors") and _full(found[0]):
                self.customer = found[0]["id"]
                return
        self.customer = sample[0]["id"]
        progress("no sample customer has a complete screen pop: using the first")


def agent_name(i: int) -> str:
    return f"agent-{i:04d}"


@dataclass(slots=True)
class CallOutcome:
    latencies: dict[str, float | None]
    frames: dict[str, Arrival]
    acks: list[float]
    slips: int
    misrouted: int
    calls: dict[str, dict[str, int]]


async def _backend_calls(sandbox: str, reads: int) -> dict[str, int]:
    """The sandbox's counters once they stop moving (other subscribers' re-reads may still
    be in flight after the measured frame)."""
    previous: dict[str, int] | None = None
    for _ in range(reads):
        counters = await stats(sandbox)
        now = {
            f"{system} {route}": n
            for system in SYSTEMS
            for route, n in counters[system]["by_route"].items()
            if n
        }
        if now == previous:
            return now
        previous = now
        await asyncio.sleep(SETTLE_S)
    return previous or {}


async def call(
    run: Run, fleet: Fleet, webhooks: str, agent: str, *, count_calls: bool = False
) -> CallOutcome:
    """One simulated call to `agent`, its four events posted one `gap` apart (later if the
    previous frame has not arrived yet: a slip). ID&V passes half-way between CONNECTED and
    VERIFIED; while counting back-end calls, after the time OFFERED's and CONNECTED's counting
    may take, so that each event is read in the same state as in a measured call."""
    gap = run.gap_ms / 1000
    idv_after = gap * 1.5 + (2 * run.settle_reads * SETTLE_S if count_calls else 0)
    body = {"customerId": run.customer, "agentId": agent, "idv": "PASSED", "ringMs": 0}
    body["idvAfterMs"] = round(idv_after * 1000)
    async with run.session.post(f"{run.sandbox}/_sandbox/calls", json=body) as r:
        r.raise_for_status()
        interaction: str = (await r.json())["interactionId"]
    start = time.perf_counter()
    await asyncio.sleep(0.01)  # the sandbox assigns the agent on its next loop turn
    out = CallOutcome({}, {}, [], 0, 0, {})
    for k, event in enumerate(EVENTS):
        slot = start + 0.01 + k * gap
        if event == "VERIFIED":  # the sandbox has the pass by then
            slot = max(slot, start + idv_after + gap / 2)
        wait = slot - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        elif k:
            out.slips += 1
        if event == "ENDED":  # hung up first: the re-read finds the contact ENDED
            end = f"{run.sandbox}/_sandbox/calls/{interaction}/end"
            async with run.session.post(end) as r:
                r.raise_for_status()
        if count_calls:
            await reset_stats(run.sandbox)
        payload = ccaas_event(
            WEBHOOK_TYPE[event],
            interaction,
            agent_id=None if event == "OFFERED" else agent,  # INITIATED names no agent yet
            idv="PASSED" if event == "VERIFIED" else None,
        )
        future = fleet.expect(interaction, event)
        posted = await fleet.post(webhooks, run.secret, payload)
        if posted.status >= 300:
            raise RuntimeError(f"webhook {WEBHOOK_TYPE[event]} answered {posted.status}")
        out.acks.append((posted.acked - posted.at) * 1000)
        try:
            arrival = await asyncio.wait_for(future, FRAME_TIMEOUT_S)
        except TimeoutError:
            fleet.waiting.pop((interaction, event), None)
            out.latencies[event] = None
        else:
            out.latencies[event] = (arrival.at - posted.at) * 1000
            out.frames[event] = arrival
        if count_calls:
            out.calls[event] = await _backend_calls(run.sandbox, run.settle_reads)
    await asyncio.sleep(0.05)  # a frame to another agent would have arrived by now
    out.misrouted = sum(
        a.agent != agent for event in EVENTS for a in fleet.arrivals.pop((interaction, event), [])
    )
    return out


async def point(
    run: Run,
    fleet: Fleet,
    deployment: str,
    agents: int,
    targets: list[str],
    webhooks: str,
    pids: dict[str, int],
) -> Point:
    """`run.calls` calls round robin over `targets`, after one warm-up call that counts the
    back-end calls per event."""
    progress(f"{deployment}, {agents} agents: warm-up call")
    warm = await call(run, fleet, webhooks, targets[0], count_calls=True)
    ended_before = sum(a.ended is not None for a in fleet.agents.values())
    progress(f"{deployment}, {agents} agents: {run.calls} calls")
    outcomes: list[CallOutcome] = []
    cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
    sandbox_cpu, wall = cpu_seconds(run.sandbox_pid), time.perf_counter()
    for i in range(run.calls):
        outcomes.append(await call(run, fleet, webhooks, targets[i % len(targets)]))
    wall = time.perf_counter() - wall
    cpu = {name: cpu_seconds(pid) - cpu[name] for name, pid in pids.items()}
    sandbox_cpu = cpu_seconds(run.sandbox_pid) - sandbox_cpu
    events: dict[str, EventFigures] = {}
    for event in EVENTS:
        got = [v for o in outcomes if (v := o.latencies[event]) is not None]
        calls = warm.calls.get(event, {})
        frames = [f for o in outcomes if (f := o.frames.get(event)) is not None]
        lost = [float("inf")] * (len(outcomes) - len(got))
        events[event] = EventFigures(
            expected=len(outcomes),
            received=len(got),
            p50_ms=percentile(got, 50),
            p95_ms=percentile(got + lost, 95),
            p99_ms=percentile(got + lost, 99),
            max_ms=round(max(got), 1) if got else None,
            errors_per_frame=round(sum(f.errors for f in frames) / len(frames), 1)
            if frames
            else None,
            error_codes=sorted({c for f in frames for c in f.error_codes}),
            backend_calls=sum(calls.values()) if warm.calls else None,
            calls_by_route=calls,
        )
    acks = [a for o in outcomes for a in o.acks]
    progress(
        f"{deployment}, {agents} agents: "
        + ", ".join(f"{e} {f.received}/{f.expected} p95 {f.p95_ms}" for e, f in events.items())
    )
    return Point(
        deployment=deployment,
        agents=agents,
        calls=len(outcomes),
        calls_per_s=round(len(outcomes) / wall, 3),
        webhooks_per_s=round(len(outcomes) * len(EVENTS) / wall, 2),
        events=events,
        webhook_ack_p50_ms=percentile(acks, 50),
        webhook_ack_p95_ms=percentile(acks, 95),
        schedule_slips=sum(o.slips for o in outcomes),
        misrouted_frames=sum(o.misrouted for o in [*outcomes, warm]),
        subscriptions_ended=sum(a.ended is not None for a in fleet.agents.values()) - ended_before,
        gateway_cpu_pct={n: round(c * 100 / wall, 1) for n, c in cpu.items()},
        gateway_cpu_ms_per_call={n: round(c * 1000 / len(outcomes), 1) for n, c in cpu.items()},
        sandbox_cpu_pct=round(sandbox_cpu * 100 / wall, 1),
    )
