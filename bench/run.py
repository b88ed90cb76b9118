"""The benchmark harness: one command for every figure of the Performance issues.

    python -m bench [--seconds 5] [--warmup 2] [--scenarios screenpop ivr ...] [--quick]
                    [--execution compiled standard] [--clients aiohttp httpx]
                    [--json bench/results/latest.json]
    python -m bench --soak 300          RSS of the gateway over a sustained screen-pop load

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

It checks that both modes and the floor return the same `data`, prints the two modes side by
side, every figure (also as a ratio to the floor) and the targets of the compiled-execution issue
evaluated from this run, and writes the JSON file (and the tables as Markdown next to it).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Coroutine, Sequence
from contextlib import ExitStack
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import orjson

from sources import SYSTEMS, Sources, SourceSettings
from sources._http import CLIENT_ENV
from sources.sandbox.client import (
    mint_token,
    reset_stats,
    sample_customers,
    set_fault,
    start_contact,
    stats,
)
from tests.support.processes import (
    BENCH_RATE_LIMIT,
    Starting,
    floor_starting,
    gateway_process,
    gateway_starting,
    sandbox_server,
)

from .load import Metrics, cpu_seconds, drive, metric_sum, peak_rss_mb, rss_mb
from .scenarios import IVR, SCENARIOS, Scenario, count_fields

__all__ = ["main", "run"]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = ROOT / "bench" / "results" / "latest.json"
DATA_SYSTEMS = ("crm", "core", "ccaas", "knowledge")
LATENCY_MS = 20.0
HEADLINE_CONCURRENCY = 16
CALL_SAMPLES = 3
EXECUTION_ENV = "SWITCHBOARD_SERVER_EXECUTION"
EXECUTION_MODES = ("compiled", "standard")
"""`[server] execution` of the gateway: compiled plans (falling back to standard per operation
where unsupported) or graphql-core's standard execution for everything."""
OPERATIONS = "switchboard_operations_total"
PROJECTION_SECONDS = "switchboard_projection_seconds_total"
PROJECTED_FIELDS = "switchboard_projected_fields_total"

# The compiled-execution issue's targets, evaluated from one run (see `targets`).
OPS_PER_CPU_S_TO_FLOOR = {"screenpop": 0.5, "ivr": 0.6, "supervisor-100": 0.5}
"""ops/CPU-s of the compiled gateway >= this x the floor's."""
PROJECTION_US_PER_FIELD = {"supervisor-1000": 1.0}
"""The compiled projection's microseconds per projected field <= this."""
P99_TO_STANDARD = 0.5
"""p99 at concurrency 16, compiled <= this x standard, every scenario."""


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


# -- the run -----------------------------------------------------------------------------------


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
        n = max([s.ids for s in self._scenarios()] + [50])
        self.sample = await sample_customers(self.sandbox, n)
        for scenario in self._scenarios():
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

    def _scenarios(self) -> list[Scenario]:
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
            payload["extensions"] = {"persistedQuery": {"version": 1, "sha256Hash": _sha256(IVR)}}
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
        for system in DATA_SYSTEMS:
            await set_fault(self.sandbox, system, latency_ms=ms)

    async def measure(
        self, scenario: Scenario, url: str, pid: int, *, metrics: bool = False
    ) -> dict[str, Any]:
        """Every figure of `scenario` on the process at `url`; with `metrics`, also what the
        process's GET /metrics counted over the measured windows (`execution`)."""
        o = self.o
        payload, headers = self.request(scenario)
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
        requests = slow.requests

        load: dict[str, Any] = {}
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
            row = result.row()
            row["cpu_ms_per_op"] = _per(result.gateway_cpu_s * 1000, result.requests)
            row["sandbox_cpu_ms_per_op"] = _per(
                result.other_cpu_s["sandbox"] * 1000, result.requests
            )
            if result.first_error:
                row["first_error"] = result.first_error
            if metrics:
                row["execution"] = execution_figures(result.metrics, result.requests)
            deltas.append(result.metrics)
            requests += result.requests
            load[str(concurrency)] = row

        # the headline: at concurrency 16, or the lowest level whose answers all succeeded when
        # 16 overran the deadline or the bulkheads (failures are cheap and would flatter it)
        preferred = [c for c in o.concurrency if c <= HEADLINE_CONCURRENCY]
        clean = [c for c in preferred if not load[str(c)]["errors"]]
        headline_key = str(max(clean) if clean else max(preferred or o.concurrency))
        headline = load[headline_key]
        cpu_ms = headline["cpu_ms_per_op"]
        out: dict[str, Any] = {
            "errors_in_answer": len(errors),
            "fields_per_op": fields,
            "calls_per_op": calls_per_op,
            "calls_by_route": calls,
            "optimum_calls": scenario.optimum_calls,
            "calls_at_optimum": calls == {k: float(v) for k, v in scenario.optimum.items()},
            "latency_20ms": {
                "p50_ms": round(slow.percentile(50), 1),
                "p99_ms": round(slow.percentile(99), 1),
                "requests": slow.requests,
                "errors": slow.errors,
                "critical_path_ms": scenario.levels * LATENCY_MS,
            },
            "load_0ms": load,
            "headline_concurrency": int(headline_key),
            "ops_per_cpu_s": headline["ops_per_cpu_s"],
            "cpu_ms_per_op": cpu_ms,
            "cpu_ms_per_backend_call": _per(cpu_ms, calls_per_op),
            "us_per_field": _per(cpu_ms * 1000 if cpu_ms else None, fields),
            "peak_rss_mb": round(peak_rss_mb(pid), 1),
            "_data": body.get("data"),
        }
        if metrics:
            out["latency_20ms"]["execution"] = execution_figures(slow.metrics, slow.requests)
            out["execution"] = execution_figures(_sum(deltas), requests)
        return out


def execution_figures(delta: Metrics | None, requests: int) -> dict[str, Any]:
    """What the gateway's counters say about `requests` measured operations: how many ran
    compiled, how many standard because it is configured, how many fell back (and why), and the
    compiled projection's cost per projected field. Figures are None without GET /metrics."""
    out: dict[str, Any] = {"metrics": delta is not None, "requests": requests}
    if delta is None:
        return {
            **out,
            **dict.fromkeys(
                (
                    "operations",
                    "compiled",
                    "standard_configured",
                    "fallbacks",
                    "fallback_reasons",
                    "fallback_rate",
                    "projection_s",
                    "projected_fields",
                    "projection_us_per_field",
                )
            ),
        }

    compiled = configured = fallbacks = 0.0
    reasons: dict[str, int] = {}
    for (name, labels), value in delta.items():
        label = dict(labels)
        if name != OPERATIONS or label.get("execution") not in EXECUTION_MODES:
            continue
        if label["execution"] == "compiled":
            compiled += value
        elif label.get("reason") == "configured":
            configured += value
        else:
            fallbacks += value
            if value:
                reason = label.get("reason", "")
                reasons[reason] = reasons.get(reason, 0) + round(value)
    operations = metric_sum(delta, OPERATIONS)
    seconds = metric_sum(delta, PROJECTION_SECONDS)
    fields = metric_sum(delta, PROJECTED_FIELDS)
    return {
        **out,
        "operations": round(operations),
        "compiled": round(compiled),
        "standard_configured": round(configured),
        "fallbacks": round(fallbacks),
        "fallback_reasons": reasons,
        "fallback_rate": round(fallbacks / operations, 4) if operations else None,
        "projection_s": round(seconds, 6),
        "projected_fields": round(fields),
        "projection_us_per_field": round(seconds * 1e6 / fields, 4) if fields else None,
    }


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


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def gateway_toml(manifest: str) -> str:
    """What the benchmark changes in the gateway's default configuration: the per-caller rate
    limit out of the way (one token drives all the load; the limiter still runs), and the IVR
    query registered as a trusted document (bots may run registered operations only)."""
    return (
        BENCH_RATE_LIMIT
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
        for system in DATA_SYSTEMS
        for route, n in counters[system]["by_route"].items()
        if n
    }


def _per(total: float | None, count: float | None) -> float | None:
    if not total or not count:
        return None
    return round(total / count, 4)


def _ratio(gateway: Any, floor: Any, digits: int = 2) -> float | None:
    if not isinstance(gateway, int | float) or not isinstance(floor, int | float) or not floor:
        return None
    return round(gateway / floor, digits)


def _ratios(gateway: dict[str, Any], floor: dict[str, Any]) -> dict[str, Any]:
    """gateway / floor for every figure (ops per CPU-second: below 1 means costlier)."""
    out: dict[str, Any] = {}
    for key in (
        "calls_per_op",
        "ops_per_cpu_s",
        "cpu_ms_per_op",
        "cpu_ms_per_backend_call",
        "us_per_field",
        "peak_rss_mb",
    ):
        out[key] = _ratio(gateway[key], floor[key])
    out["latency_20ms"] = {
        k: _ratio(gateway["latency_20ms"][k], floor["latency_20ms"][k])
        for k in ("p50_ms", "p99_ms")
    }
    out["load_0ms"] = {
        c: {
            k: _ratio(row[k], floor["load_0ms"][c][k])
            for k in ("rps", "p99_ms", "ops_per_cpu_s", "cpu_ms_per_op")
        }
        for c, row in gateway["load_0ms"].items()
    }
    return out


def machine() -> dict[str, Any]:
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
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": list(os.getloadavg()),
        "packages": versions,
    }


async def transport_cost(sandbox: str, client: str, calls: int) -> dict[str, Any]:
    """The seam alone, in this process: CPU per `Transport.get_json` (one party's accounts from
    core: a ~1 KB answer, JSON decoded, no record decoding) at concurrency 16."""
    previous = os.environ.get(CLIENT_ENV)
    os.environ[CLIENT_ENV] = client
    try:
        sources = Sources.open(
            {name: SourceSettings(name=name, base_url=f"{sandbox}/{name}") for name in SYSTEMS}
        )
    finally:
        if previous is None:
            os.environ.pop(CLIENT_ENV)
        else:
            os.environ[CLIENT_ENV] = previous
    try:
        sample = await sample_customers(sandbox, 1)
        [customer] = await sources.crm.customers("id", [sample[0]["id"]])
        params = [("partyId", customer.core_party_id or "")]
        transport = sources.core.transport
        assert transport.http.client == client

        async def worker(n: int) -> None:
            for _ in range(n):
                await transport.get_json("/accounts", params)

        concurrency = 16
        await asyncio.gather(*(worker(max(calls // 10 // concurrency, 1)) for _ in range(16)))
        per_worker = max(calls // concurrency, 1)
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(per_worker) for _ in range(concurrency)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        done = per_worker * concurrency
    finally:
        await sources.aclose()
    return {
        "calls": done,
        "concurrency": concurrency,
        "cpu_ms_per_call": round(cpu * 1000 / done, 4),
        "calls_per_cpu_s": round(done / cpu, 1) if cpu else None,
        "calls_per_s": round(done / wall, 1),
    }


async def run(options: Options) -> dict[str, Any]:
    o = options
    out: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "settings": {
            "seconds": o.seconds,
            "warmup": o.warmup,
            "concurrency": o.concurrency,
            "customers": o.customers,
            "execution": o.execution,
            "sandbox_latency_ms": LATENCY_MS,
            "headline_concurrency": HEADLINE_CONCURRENCY,
            "quick": o.quick,
        },
        "optimum": {
            name: {"calls": SCENARIOS[name].optimum_calls, "derivation": SCENARIOS[name].derivation}
            for name in o.scenarios
        },
        "transport": {},
        "runs": {},
    }
    with (
        tempfile.TemporaryDirectory() as tmp,
        sandbox_server(o.customers) as (sandbox, sandbox_pid),
    ):
        manifest = Path(tmp) / "trusted-documents.json"
        manifest.write_text(json.dumps({_sha256(IVR): IVR}))
        extra = gateway_toml(str(manifest))
        bench = Bench(o, sandbox, sandbox_pid)
        await bench.prepare()
        for client in o.clients:
            _progress(f"{client}: the transport seam alone")
            out["transport"][client] = await transport_cost(sandbox, client, o.transport_calls)
            # no access log line per request: the floor writes none either
            env = {CLIENT_ENV: client, "SWITCHBOARD_SERVER_ACCESS_LOG": "false"}
            results: dict[str, Any] = {}
            # One process per gateway mode and the floor, each kept for every scenario, all
            # started together up front (and idle but for the one being measured) so that a
            # scenario's figures on each are taken seconds apart, not a whole run apart.
            with ExitStack() as processes:
                names = [f"the gateway ({mode})" for mode in o.execution]
                _progress(f"{client}: starting {', '.join(names + ['the floor'][o.no_floor :])}")
                starting: dict[str, Starting] = {
                    mode: processes.enter_context(
                        gateway_starting(sandbox, extra, env={**env, EXECUTION_ENV: mode})
                    )
                    for mode in o.execution
                }
                if not o.no_floor:
                    starting["floor"] = processes.enter_context(floor_starting(sandbox, env=env))
                under_test = {target: s.ready() for target, s in starting.items()}
                if "screenpop" in o.scenarios:
                    reference = "standard" if "standard" in under_test else o.execution[0]
                    await bench.pick_phone(under_test[reference][0])
                for scenario in bench._scenarios():
                    row: dict[str, Any] = {}
                    for target, (url, pid) in under_test.items():
                        where = "the floor" if target == "floor" else f"the gateway ({target})"
                        _progress(f"{client}: {scenario.name} on {where}")
                        row[target] = await bench.measure(
                            scenario, url, pid, metrics=target != "floor"
                        )
                    results[scenario.name] = compare(row, o.execution)
            out["runs"][client] = results
    out["machine"]["loadavg_at_end"] = list(os.getloadavg())
    out["targets"] = targets(out)
    return out


def compare(row: dict[str, Any], modes: Sequence[str]) -> dict[str, Any]:
    """The checks and ratios between one scenario's measurements (keyed by mode and "floor"):
    the same `data` everywhere, each mode against the floor, compiled against standard."""
    floor = row.get("floor")
    if floor is not None:
        row["ratio_to_floor"] = {}
        for mode in modes:
            row[mode]["same_data_as_floor"] = row[mode]["_data"] == floor["_data"]
            row["ratio_to_floor"][mode] = _ratios(row[mode], floor)
        row["same_data_as_floor"] = all(row[mode]["same_data_as_floor"] for mode in modes)
    compiled, standard = row.get("compiled"), row.get("standard")
    if compiled is not None and standard is not None:
        row["same_data_as_standard"] = compiled["_data"] == standard["_data"]
        # equal data may still list an object's fields in another order (GraphQL wants the
        # selection's order): compare the serialized answers too
        row["same_field_order_as_standard"] = row["same_data_as_standard"] and json.dumps(
            compiled["_data"]
        ) == json.dumps(standard["_data"])
        row["ratio_to_standard"] = _ratios(compiled, standard)
    else:
        row["same_data_as_standard"] = None
    for mode in modes:
        execution = row[mode].get("execution")
        if execution is not None and execution["metrics"]:
            operations = execution["operations"]
            configured = execution["standard_configured"]
            # the counters confirm the process ran in the mode it was started in
            execution["mode_confirmed"] = bool(operations) and (
                configured == operations if mode == "standard" else configured == 0
            )
    for target in (*modes, "floor"):
        if target in row:
            row[target].pop("_data", None)
    return row


# -- targets -----------------------------------------------------------------------------------


def targets(out: dict[str, Any]) -> list[dict[str, Any]]:
    """The compiled-execution issue's targets, each from this run's figures: the figure, the
    limit, and met / missed (or "not measured" with why, when this run has no such figure)."""
    return [line for client, results in out["runs"].items() for line in _targets(client, results)]


def _targets(client: str, results: dict[str, Any]) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []

    def line(
        scenario: str,
        what: str,
        figure: Any,
        op: str,
        limit: float,
        missing: str | None = None,
        note: str | None = None,
    ) -> None:
        if scenario not in results:
            figure, missing = None, "scenario not run"
        if figure is None:
            status = "not measured"
            note = missing or note
        elif op == "<=":
            status = "met" if figure <= limit else "missed"
        elif op == ">=":
            status = "met" if figure >= limit else "missed"
        else:
            status = "met" if figure == limit else "missed"
        lines.append(
            {
                "client": client,
                "scenario": scenario,
                "target": what,
                "figure": figure,
                "op": op,
                "limit": limit,
                "status": status,
                "note": note,
            }
        )

    def get(scenario: str, *path: str) -> Any:
        return _get(results.get(scenario), *path)

    for scenario, limit in OPS_PER_CPU_S_TO_FLOOR.items():
        figure = _ratio(
            get(scenario, "compiled", "ops_per_cpu_s"), get(scenario, "floor", "ops_per_cpu_s"), 3
        )
        missing = (
            "compiled mode not run"
            if get(scenario, "compiled") is None
            else "floor not run"
            if get(scenario, "floor") is None
            else None
        )
        at = [get(scenario, t, "headline_concurrency") for t in ("compiled", "floor")]
        at_16 = all(c in (None, HEADLINE_CONCURRENCY) for c in at)
        note = None if at_16 else f"not both at concurrency {HEADLINE_CONCURRENCY}"
        line(scenario, "ops/CPU-s compiled / floor", figure, ">=", limit, missing, note)
    for scenario, limit in PROJECTION_US_PER_FIELD.items():
        figure = get(scenario, "compiled", "execution", "projection_us_per_field")
        missing = (
            "compiled mode not run"
            if get(scenario, "compiled") is None
            else "no GET /metrics"
            if not get(scenario, "compiled", "execution", "metrics")
            else "nothing projected"
        )
        line(scenario, "projection us / projected field", figure, "<=", limit, missing)
    point = str(HEADLINE_CONCURRENCY)
    for scenario in results:
        c = get(scenario, "compiled", "load_0ms", point)
        s = get(scenario, "standard", "load_0ms", point)
        errors = any(p and p["errors"] for p in (c, s))
        line(
            scenario,
            f"p99@{point} compiled / standard",
            _ratio(c and c["p99_ms"], s and s["p99_ms"], 3),
            "<=",
            P99_TO_STANDARD,
            "both modes needed" if c is None or s is None else None,
            f"errors @{point}" if errors else None,
        )
    for scenario in results:
        figure = get(scenario, "compiled", "execution", "fallback_rate")
        missing = (
            "compiled mode not run"
            if get(scenario, "compiled") is None
            else "no GET /metrics"
            if not get(scenario, "compiled", "execution", "metrics")
            else "no operations counted"
        )
        line(scenario, "fallback rate (compiled)", figure, "==", 0.0, missing)
    return lines


async def soak(options: Options) -> dict[str, Any]:
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
        manifest.write_text(json.dumps({_sha256(IVR): IVR}))
        bench = Bench(o, sandbox, sandbox_pid)
        await bench.prepare()
        env = {CLIENT_ENV: o.clients[0], EXECUTION_ENV: o.execution[0]}
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
                _progress(f"soak {elapsed:.0f}s: rss {samples[-1][1]} MiB, {requests} ops")
            samples.append((round(time.monotonic() - started, 1), round(rss_mb(pid), 1)))
            cpu = cpu_seconds(pid) - cpu_before
            peak = peak_rss_mb(pid)
    first, last = samples[0][1], samples[-1][1]
    highest = max(rss for _, rss in samples)
    return {
        "machine": machine(),
        "client": o.clients[0],
        "execution": o.execution[0],
        "seconds": o.soak,
        "concurrency": 16,
        "requests": requests,
        "errors": errors,
        "ops_per_cpu_s": round(requests / cpu, 1) if cpu else None,
        "rss_first_mb": first,
        "rss_last_mb": last,
        "rss_max_mb": highest,
        "peak_rss_mb": round(peak, 1),
        "growth_pct": round((last / first - 1) * 100, 1),
        "flat_within_10pct": highest <= first * 1.10,
        "samples": samples,
    }


# -- output ------------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _pct(rate: float | None) -> str:
    if rate is None:
        return "-"
    if rate == 0:
        return "0"
    return f"{rate:.2%}" if rate < 0.01 else f"{rate:.0%}"


def _pair(a: Any, b: Any, digits: int = 1) -> str:
    return f"{_fmt(a, digits)} / {_fmt(b, digits)}"


def _targets_of(out: dict[str, Any]) -> list[str]:
    """The measured processes in table order: the gateway modes, then the floor."""
    return [*out["settings"]["execution"], "floor"]


def _get(row: dict[str, Any] | None, *path: str) -> Any:
    value: Any = row
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def side_by_side(out: dict[str, Any], markdown: bool = False) -> list[list[str]]:
    """Per scenario, compiled and standard next to each other (each cell "compiled / standard";
    the projection and fallback figures are the compiled mode's)."""
    point = str(HEADLINE_CONCURRENCY)
    us = "µs" if markdown else "us"
    head = [
        "scenario",
        "calls/op (opt)",
        "p50 @20 ms",
        f"p99 @{point}",
        "ops/CPU-s",
        "floor ops/CPU-s",
        "x floor",
        f"{us}/field",
        f"proj {us}/field",
        "fallback",
    ]
    lines = [head]
    for client, results in out["runs"].items():
        for name, row in results.items():
            c, s = row.get("compiled"), row.get("standard")
            lines.append(
                [
                    f"`{name}` ({client})" if markdown else f"{name} [{client}]",
                    f"{_pair(_get(c, 'calls_per_op'), _get(s, 'calls_per_op'))} "
                    f"({SCENARIOS[name].optimum_calls})",
                    _pair(_get(c, "latency_20ms", "p50_ms"), _get(s, "latency_20ms", "p50_ms")),
                    _pair(
                        _get(c, "load_0ms", point, "p99_ms"), _get(s, "load_0ms", point, "p99_ms")
                    ),
                    _pair(_get(c, "ops_per_cpu_s"), _get(s, "ops_per_cpu_s")),
                    _fmt(_get(row, "floor", "ops_per_cpu_s")),
                    _pair(
                        _get(row, "ratio_to_floor", "compiled", "ops_per_cpu_s"),
                        _get(row, "ratio_to_floor", "standard", "ops_per_cpu_s"),
                        2,
                    ),
                    _pair(_get(c, "us_per_field"), _get(s, "us_per_field")),
                    _fmt(_get(c, "execution", "projection_us_per_field"), 3),
                    _pct(_get(c, "execution", "fallback_rate")),
                ]
            )
    return lines


def detail(out: dict[str, Any]) -> list[list[str]]:
    """Every figure: a row per process under test, then each mode / the floor."""
    concurrency = out["settings"]["concurrency"]
    head = ["scenario", "target", "calls/op", "opt", "p50@20", "p99@20", "crit"]
    for c in concurrency:
        head += [f"rps@{c}", f"p99@{c}"]
    head += ["ops/CPU-s", "CPU ms/op", "ms/call", "us/field", "RSS MiB"]
    lines: list[list[str]] = [head]
    for client, results in out["runs"].items():
        for name, row in results.items():
            first = True
            for target in _targets_of(out):
                m = row.get(target)
                if m is None:
                    continue
                cells = [
                    f"{name} [{client}]" if first else "",
                    target,
                    _fmt(m["calls_per_op"]),
                    _fmt(m["optimum_calls"]),
                    _fmt(m["latency_20ms"]["p50_ms"]),
                    _fmt(m["latency_20ms"]["p99_ms"]),
                    _fmt(m["latency_20ms"]["critical_path_ms"], 0),
                ]
                first = False
                for c in concurrency:
                    point = m["load_0ms"][str(c)]
                    errors = f"!{point['errors']}" if point["errors"] else ""
                    cells += [_fmt(point["rps"]) + errors, _fmt(point["p99_ms"])]
                cells += [
                    _fmt(m["ops_per_cpu_s"]),
                    _fmt(m["cpu_ms_per_op"], 2),
                    _fmt(m["cpu_ms_per_backend_call"], 3),
                    _fmt(m["us_per_field"], 2),
                    _fmt(m["peak_rss_mb"]),
                ]
                lines.append(cells)
            for mode, r in (row.get("ratio_to_floor") or {}).items():
                cells = [
                    "",
                    f"{mode}/floor",
                    _fmt(r["calls_per_op"], 2),
                    "",
                    _fmt(r["latency_20ms"]["p50_ms"], 2),
                    _fmt(r["latency_20ms"]["p99_ms"], 2),
                    "",
                ]
                for c in concurrency:
                    cells += [
                        _fmt(r["load_0ms"][str(c)]["rps"], 2),
                        _fmt(r["load_0ms"][str(c)]["p99_ms"], 2),
                    ]
                cells += [
                    _fmt(r["ops_per_cpu_s"], 2),
                    _fmt(r["cpu_ms_per_op"], 2),
                    _fmt(r["cpu_ms_per_backend_call"], 2),
                    _fmt(r["us_per_field"], 2),
                    _fmt(r["peak_rss_mb"], 2),
                ]
                lines.append(cells)
    return lines


def _figure(line: dict[str, Any]) -> str:
    figure = line["figure"]
    if line["target"].startswith("fallback"):
        return _pct(figure)
    return _fmt(figure, 3)


def _limit(line: dict[str, Any]) -> str:
    limit = line["limit"]
    if line["target"].startswith("fallback"):
        return f"{line['op']} {_pct(limit)}"
    return f"{line['op']} {limit:g}"


def target_lines(out: dict[str, Any]) -> list[list[str]]:
    head = ["scenario", "target", "figure", "limit", "status"]
    lines = [head]
    clients = len(out["runs"])
    for line in out["targets"]:
        status = line["status"] + (f" ({line['note']})" if line["note"] else "")
        scenario = line["scenario"] + (f" [{line['client']}]" if clients > 1 else "")
        lines.append([scenario, line["target"], _figure(line), _limit(line), status])
    return lines


def _align(rows: list[list[str]], left: int, last_left: bool = False) -> str:
    """Columns padded to their widths: the first `left` (and with `last_left` the last) to the
    left, the figures to the right."""
    widths = [max(len(x) for x in col) for col in zip(*rows, strict=True)]
    n = len(widths)
    return "\n".join(
        "  ".join(
            c.ljust(w) if i < left or (last_left and i == n - 1) else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in rows
    )


def table(out: dict[str, Any]) -> str:
    """What `python -m bench` prints: the modes side by side, every figure, the targets."""
    return "\n\n".join(
        [
            "compiled / standard side by side (projection and fallback: compiled)\n"
            + _align(side_by_side(out), 1),
            "every figure\n" + _align(detail(out), 2),
            "targets (compiled execution, from this run)\n"
            + _align(target_lines(out), 2, last_left=True),
        ]
    )


def _md(rows: list[list[str]]) -> list[str]:
    head, *body = rows
    return [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(cells) + " |" for cells in body),
    ]


def markdown(out: dict[str, Any]) -> str:
    """The tables for docs/performance.md: the modes side by side, every figure (a row per
    process under test and per mode / floor), and the targets."""
    concurrency = out["settings"]["concurrency"]
    head = ["scenario", "", "calls/op (optimum)", "p50 / p99 @20 ms (critical path)"]
    head += [f"rps / p99 ms @{c}" for c in concurrency]
    head += ["**ops/CPU-s**", "CPU ms/call", "µs/field", "peak RSS MiB"]
    rows = [head]
    for client, results in out["runs"].items():
        for name, row in results.items():
            first = True
            for target in _targets_of(out):
                m = row.get(target)
                if m is None:
                    continue
                slow = m["latency_20ms"]
                cells = [
                    f"`{name}` ({client})" if first else "",
                    target,
                    f"{_fmt(m['calls_per_op'])} ({m['optimum_calls']})",
                    f"{_fmt(slow['p50_ms'])} / {_fmt(slow['p99_ms'])} "
                    f"({_fmt(slow['critical_path_ms'], 0)})",
                ]
                first = False
                for c in concurrency:
                    point = m["load_0ms"][str(c)]
                    errors = f" ({point['errors']} err)" if point["errors"] else ""
                    cells.append(f"{_fmt(point['rps'])} / {_fmt(point['p99_ms'], 0)}{errors}")
                cells += [
                    f"**{_fmt(m['ops_per_cpu_s'])}**"
                    + ("" if m["headline_concurrency"] == HEADLINE_CONCURRENCY else " (@1)"),
                    _fmt(m["cpu_ms_per_backend_call"], 2),
                    _fmt(m["us_per_field"]),
                    _fmt(m["peak_rss_mb"], 0),
                ]
                rows.append(cells)
            for mode, r in (row.get("ratio_to_floor") or {}).items():
                cells = [
                    "",
                    f"{mode} / floor",
                    _fmt(r["calls_per_op"], 2),
                    f"{_fmt(r['latency_20ms']['p50_ms'], 2)} / "
                    f"{_fmt(r['latency_20ms']['p99_ms'], 2)}",
                ]
                cells += [
                    f"{_fmt(r['load_0ms'][str(c)]['rps'], 2)} / "
                    f"{_fmt(r['load_0ms'][str(c)]['p99_ms'], 2)}"
                    for c in concurrency
                ]
                cells += [
                    f"**{_fmt(r['ops_per_cpu_s'], 2)}**",
                    _fmt(r["cpu_ms_per_backend_call"], 2),
                    _fmt(r["us_per_field"], 2),
                    _fmt(r["peak_rss_mb"], 2),
                ]
                rows.append(cells)
    targets_rows = [[c.replace(" us ", " µs ") for c in r] for r in target_lines(out)]
    parts = [
        "Compiled / standard side by side (each cell: compiled / standard; projection and "
        "fallback: the compiled mode's)",
        "",
        *_md(side_by_side(out, markdown=True)),
        "",
        "Every figure",
        "",
        *_md(rows),
        "",
        "Targets (compiled execution, from this run)",
        "",
        *_md(targets_rows),
    ]
    return "\n".join(parts) + "\n"


def _progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


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
        default=[os.environ.get(CLIENT_ENV, "aiohttp")],
        choices=["aiohttp", "httpx"],
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
    options = parser.parse_args(argv, namespace=Options())
    options.execution = list(dict.fromkeys(options.execution))
    if not options.scenarios:  # not given
        options.scenarios = ["screenpop"] if options.quick else list(SCENARIOS)
    if options.quick:
        options.seconds, options.warmup = 0.3, 0.1
        options.transport_calls = min(options.transport_calls, 200)
        options.customers = min(options.customers, 2000)
    return options


def warnings(out: dict[str, Any]) -> list[str]:
    """What a reader of the tables must not miss: different answers, calls off the optimum, a
    gateway not in the mode it was started in, figures missing for want of GET /metrics."""
    lines: list[str] = []
    no_metrics: set[str] = set()
    for client, results in out["runs"].items():
        for name, row in results.items():
            where = f"[{client}] {name}"
            if row.get("same_data_as_standard") is False:
                lines.append(f"WARNING {where}: compiled and standard return different data")
            elif row.get("same_field_order_as_standard") is False:
                lines.append(f"WARNING {where}: compiled orders fields unlike standard")
            for mode in out["settings"]["execution"]:
                m = row[mode]
                if m.get("same_data_as_floor") is False:
                    lines.append(f"WARNING {where}: the floor's data differs from {mode}'s")
                if not m["calls_at_optimum"]:
                    lines.append(
                        f"WARNING {where} ({mode}): back-end calls {m['calls_by_route']} "
                        "differ from the optimum"
                    )
                execution = m.get("execution") or {}
                if not execution.get("metrics"):
                    no_metrics.add(mode)
                elif execution.get("mode_confirmed") is False:
                    lines.append(
                        f"WARNING {where}: the {mode} gateway's counters do not confirm its mode "
                        f"({execution['operations']} operations: {execution['compiled']} "
                        f"compiled, {execution['standard_configured']} standard as configured, "
                        f"{execution['fallbacks']} fallbacks)"
                    )
                if mode == "compiled" and execution.get("fallbacks"):
                    lines.append(
                        f"note {where}: compiled fell back to standard for "
                        f"{execution['fallbacks']} of {execution['operations']} operations "
                        f"(reasons: {execution['fallback_reasons']})"
                    )
    if no_metrics:
        lines.append(
            f"note: no GET /metrics on the gateway ({', '.join(sorted(no_metrics))}): "
            "projection and fallback figures are '-'"
        )
    return lines


def _run(main: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """On uvloop, as the gateway and the floor run (uvicorn's default when it is installed)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    if options.soak > 0:
        out = _run(soak(options))
        print(
            f"soak {out['seconds']:.0f}s at concurrency 16: RSS {out['rss_first_mb']} -> "
            f"{out['rss_last_mb']} MiB (max {out['rss_max_mb']}, {out['growth_pct']:+.1f}%), "
            f"{out['requests']} ops, {out['errors']} errors, flat within 10%: "
            f"{_fmt(out['flat_within_10pct'])}"
        )
    else:
        out = _run(run(options))
        print(table(out))
        for client, seam in out["transport"].items():
            print(
                f"transport seam alone [{client}]: {seam['cpu_ms_per_call']:.3f} ms CPU per call "
                f"({seam['calls_per_cpu_s']:.0f} calls per CPU-second, concurrency 16)"
            )
        for warning in warnings(out):
            print(warning)
    path = Path(options.json)
    if options.soak > 0 and options.json == str(DEFAULT_JSON):
        path = path.with_name("soak.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written: {path}")
    if options.soak <= 0:
        path.with_suffix(".md").write_text(markdown(out))
        print(f"written: {path.with_suffix('.md')}")
    return 0
