"""The harness: the processes under test started once each, every scenario measured on each
(`Bench.measure`), the measurements compared (`compare`); bench/cli.py runs a whole
`python -m bench` with them."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import replace
from importlib import metadata
from typing import Any

import httpx
import orjson

from sources import SYSTEMS
from sources.sandbox.client import (
    mint_token,
    reset_stats,
    sample_customers,
    set_fault,
    start_contact,
    stats,
)
from tests.support.processes import (
    BENCH_BUDGETS,
    BENCH_RATE_LIMIT,
)

from .load import Metrics, drive, merge_gc, tree_peak_rss_mb
from .results import Figures, Latency, LoadPoint, Machine, ScenarioResult
from .scenarios import IVR, SCENARIOS, Scenario, count_fields
from .targets import (
    HEADLINE_CONCURRENCY,
    execution_figures,
    ratios,
)

__all__ = [
    "PEER",
    "Bench",
    "Options",
    "compare",
    "gateway_toml",
    "machine",
    "progress",
    "sha256",
]

LATENCY_MS = 20.0
PEER = "hive"
"""The peer's name among the processes under test (bench/peer.py)."""
CALL_SAMPLES = 3
EXECUTION_ENV = "SWITCHBOARD_SERVER_EXECUTION"


class Options(argparse.Namespace):
    seconds: float
    warmup: float
    concurrency: list[int]
    scenarios: list[str]
    clients: list[str]
    customers: int
    execution: list[str]
    json: str
    quick: bool
    soak: float
    no_floor: bool
    transport_calls: int
    peer: str
    """auto (when Node and the registry allow), on (a missing peer fails the run) or off."""
    peer_jwt: bool
    mix: bool


class Bench:
    def __init__(self, options: Options, sandbox: str, sandbox_pid: int) -> None:
        self.o = options
        self.sandbox = sandbox
        self.sandbox_pid = sandbox_pid
        self.tokens: dict[str, str] = {}
        self.sample: list[dict[str, Any]] = []
        self.phone = ""
        self.interaction = ""

    async def prepare(self) -> None:
        n = max([s.ids for s in self.scenarios()] + [50])
        self.sample = await sample_customers(self.sandbox, n)
        for scenario in self.scenarios():
            if scenario.subject not in self.tokens:
                self.tokens[scenario.subject] = await mint_token(
                    self.sandbox, sub=scenario.subject, roles=[scenario.role], ttl=24 * 3600
                )
        ivr = SCENARIOS["ivr"]
        # the bot flow: the IVR is on a live call with the customer, who passed ID&V in it
        self.interaction = await start_contact(
            self.sandbox,
            customer_id=self.sample[0]["id"],
            agent_id=ivr.subject,
            idv="PASSED",
            channel="IVR",
        )

    def scenarios(self) -> list[Scenario]:
        return [SCENARIOS[name] for name in self.o.scenarios]

    def request(self, scenario: Scenario) -> tuple[dict[str, Any], dict[str, str]]:
        headers = {"authorization": f"Bearer {self.tokens[scenario.subject]}"}
        variables: dict[str, Any]
        if scenario.name == "screenpop":
            variables = {"phone": self.phone}
        elif scenario.name == "ivr":
            variables = {"id": self.sample[0]["id"]}
            headers["x-interaction-id"] = self.interaction
        else:
            variables = {"ids": [c["id"] for c in self.sample[: scenario.ids]]}
        payload: dict[str, Any] = {"variables": variables, "operationName": scenario.operation}
        if scenario.role == "ivr":  # bots may run registered operations only: by hash
            payload["extensions"] = {"persistedQuery": {"version": 1, "sha256Hash": sha256(IVR)}}
        else:
            payload["query"] = scenario.query
        return payload, headers

    async def pick_phone(self, gateway: str) -> None:
        """The screen-pop customer: an error-free answer (no field denied to a supervisor) that
        fills the query (one match with 10 interactions, 20 journey events, an open case,
        accounts, cards and suggested articles); failing that, the fullest error-free one."""
        scenario = SCENARIOS["screenpop"]
        best: tuple[int, str] | None = None
        for customer in self.sample[:50]:
            self.phone = customer["phones"][0]
            payload, headers = self.request(scenario)
            body = await _post(gateway, payload, headers)
            found = (body.get("data") or {}).get("findCustomers") or []
            if body.get("errors") or not found:
                continue
            if len(found) == 1 and _full(found[0]):
                return
            fields = count_fields(body["data"])
            if best is None or fields > best[0]:
                best = (fields, self.phone)
        if best is None:
            raise RuntimeError("no sample customer has an error-free screen-pop")
        self.phone = best[1]

    async def latency(self, ms: float) -> None:
        for system in SYSTEMS:
            await set_fault(self.sandbox, system, latency_ms=ms)

    async def measure(
        self,
        scenario: Scenario,
        url: str,
        pid: int,
        *,
        metrics: bool = False,
        payload: dict[str, Any] | None = None,
    ) -> Figures:
        """Every figure of `scenario` on the process at `url`; with `metrics`, also what the
        process's GET /metrics counted over the measured windows (`execution`, `gc`).
        `payload`: another request body for the same workload (the peer's query text)."""
        o = self.o
        ours, headers = self.request(scenario)
        payload = ours if payload is None else payload
        await self.latency(0)
        body = await _post(url, payload, headers)
        errors = body.get("errors") or []
        fields = count_fields(body.get("data"))

        await reset_stats(self.sandbox)
        for _ in range(CALL_SAMPLES):
            await _post(url, payload, headers)
        by_route = _calls(await stats(self.sandbox))
        calls = {route: n / CALL_SAMPLES for route, n in by_route.items()}
        calls_per_op = sum(calls.values())

        await self.latency(LATENCY_MS)
        slow = await drive(
            url,
            payload,
            headers,
            concurrency=1,
            seconds=o.seconds,
            warmup=o.warmup,
            pid=pid,
            metrics=metrics,
        )
        await self.latency(0)
        deltas = [slow.metrics]
        windows = [slow.gc]
        requests = slow.requests

        load: dict[str, LoadPoint] = {}
        for concurrency in o.concurrency:
            result = await drive(
                url,
                payload,
                headers,
                concurrency=concurrency,
                seconds=o.seconds,
                warmup=o.warmup,
                pid=pid,
                accept_errors=False,
                others={"sandbox": self.sandbox_pid},
                metrics=metrics,
            )
            load[str(concurrency)] = LoadPoint(
                **result.row(),
                cpu_ms_per_op=_per(result.gateway_cpu_s * 1000, result.requests),
                sandbox_cpu_ms_per_op=_per(result.other_cpu_s["sandbox"] * 1000, result.requests),
                first_error=result.first_error or None,
                execution=execution_figures(result.metrics, result.requests) if metrics else None,
                gc=result.gc,
            )
            deltas.append(result.metrics)
            windows.append(result.gc)
            requests += result.requests

        # the headline: at concurrency 16, or the lowest level whose answers all succeeded when
        # 16 overran the deadline or the bulkheads (failures are cheap and would flatter it)
        preferred = [c for c in o.concurrency if c <= HEADLINE_CONCURRENCY]
        clean = [c for c in preferred if not load[str(c)].errors]
        headline_key = str(max(clean) if clean else max(preferred or o.concurrency))
        headline = load[headline_key]
        cpu_ms = headline.cpu_ms_per_op
        return Figures(
            errors_in_answer=len(errors),
            fields_per_op=fields,
            calls_per_op=calls_per_op,
            calls_by_route=calls,
            optimum_calls=scenario.optimum_calls,
            calls_at_optimum=calls == {k: float(v) for k, v in scenario.optimum.items()},
            latency_20ms=Latency(
                p50_ms=round(slow.percentile(50), 1),
                p99_ms=round(slow.percentile(99), 1),
                requests=slow.requests,
                errors=slow.errors,
                critical_path_ms=scenario.levels * LATENCY_MS,
                execution=execution_figures(slow.metrics, slow.requests) if metrics else None,
                gc=slow.gc,
            ),
            load_0ms=load,
            headline_concurrency=int(headline_key),
            ops_per_cpu_s=headline.ops_per_cpu_s,
            cpu_ms_per_op=cpu_ms,
            cpu_ms_per_backend_call=_per(cpu_ms, calls_per_op),
            us_per_field=_per(cpu_ms * 1000 if cpu_ms else None, fields),
            peak_rss_mb=round(tree_peak_rss_mb(pid), 1),
            data=body.get("data"),
            execution=execution_figures(_sum(deltas), requests) if metrics else None,
            gc=merge_gc(windows),
        )


def _sum(deltas: Sequence[Metrics | None]) -> Metrics | None:
    if any(d is None for d in deltas):
        return None
    total: Metrics = {}
    for delta in deltas:
        assert delta is not None
        for key, value in delta.items():
            total[key] = total.get(key, 0.0) + value
    return total


def _full(c: dict[str, Any]) -> bool:
    return bool(
        len(c["interactions"]) == 10
        and len(c["journey"]["events"]) == 20
        and c["cases"]
        and c["accounts"]
        and c["cards"]
        and c["suggestedArticles"]
    )


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def gateway_toml(manifest: str) -> str:
    """What the benchmark changes in the gateway's default configuration: the per-caller rate
    limit, data budget and lookup window out of the way (one token drives all the load; they
    still run), and the IVR query registered as a trusted document (bots may run registered
    operations only)."""
    return (
        BENCH_RATE_LIMIT
        + BENCH_BUDGETS
        + f"""
[trusted_documents]
manifest = "{manifest}"
"""
    )


async def _post(url: str, payload: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=60) as http:
        response = await http.post(url + "/graphql", json=payload, headers=headers)
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
    body: dict[str, Any] = orjson.loads(response.content)
    return body


def _calls(counters: dict[str, Any]) -> dict[str, int]:
    return {
        f"{system} {route}": n
        for system in SYSTEMS
        for route, n in counters[system]["by_route"].items()
        if n
    }


def _per(total: float | None, count: float | None) -> float | None:
    if not total or not count:
        return None
    return round(total / count, 4)


def machine() -> Machine:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            names = (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
            model = next(names, "")
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for package in ("aiohttp", "httpx", "strawberry-graphql", "graphql-core", "uvicorn", "orjson"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return Machine(
        cores=os.cpu_count(),
        cpu=model,
        python=platform.python_version(),
        platform=platform.platform(),
        loadavg_at_start=list(os.getloadavg()),
        packages=versions,
    )


def compare(measured: dict[str, Figures], modes: Sequence[str]) -> ScenarioResult:
    """The checks and ratios between one scenario's measurements (keyed by mode and "floor"):
    the same `data` everywhere, each mode against the floor, compiled against standard, and
    whether each gateway's counters confirm the mode it was started in."""
    figures = dict(measured)
    for mode in modes:
        execution = figures[mode].execution
        if execution is not None and execution.metrics:
            operations, configured = execution.operations, execution.standard_configured
            confirmed = bool(operations) and (
                configured == operations if mode == "standard" else configured == 0
            )
            figures[mode] = replace(
                figures[mode], execution=replace(execution, mode_confirmed=confirmed)
            )
    floor = figures.get("floor")
    ratio_to_floor = same_data_as_floor = None
    if floor is not None:
        for mode in modes:
            figures[mode] = replace(
                figures[mode], same_data_as_floor=figures[mode].data == floor.data
            )
        ratio_to_floor = {mode: ratios(figures[mode], floor) for mode in modes}
        same_data_as_floor = all(figures[mode].same_data_as_floor for mode in modes)
    peer = figures.get(PEER)
    to_peer = None
    if peer is not None:
        to_peer = {t: ratios(m, peer) for t, m in figures.items() if t != PEER}
    compiled, standard = figures.get("compiled"), figures.get("standard")
    if compiled is None or standard is None:
        return ScenarioResult(figures, ratio_to_floor, same_data_as_floor, ratio_to_peer=to_peer)
    same_data = compiled.data == standard.data
    # equal data may still list an object's fields in another order (GraphQL wants the
    # selection's order): compare the serialized answers too
    same_order = same_data and json.dumps(compiled.data) == json.dumps(standard.data)
    return ScenarioResult(
        figures,
        ratio_to_floor,
        same_data_as_floor,
        same_data_as_standard=same_data,
        same_field_order_as_standard=same_order,
        ratio_to_standard=ratios(compiled, standard),
        ratio_to_peer=to_peer,
    )


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)
