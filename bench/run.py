"""The benchmark harness: one command for every figure of the Performance issue.

    python -m bench [--seconds 5] [--warmup 2] [--scenarios screenpop ivr ...] [--quick]
                    [--clients aiohttp httpx] [--json bench/results/latest.json]
    python -m bench --soak 300          RSS of the gateway over a sustained screen-pop load

It starts the sandbox systems, the gateway and the floor (bench/floor.py) as separate processes
on 127.0.0.1 and drives them from this one (bench/load.py, closed loop). For each scenario
(bench/scenarios.py), on the gateway and on the floor:

- back-end calls per operation, from the sandbox's counters, next to the optimum;
- p50/p99 at concurrency 1 with every system answering after 20 ms, next to the critical path;
- throughput and p99 at concurrency 1/16/64 with no sandbox latency;
- operations per CPU-second of the process under test (the headline, at concurrency 16: CPU
  time from /proc survives a noisy shared machine), CPU per back-end call, microseconds per
  resolved field, and the process's peak RSS (VmHWM).

Prints a table (every gateway figure also as a ratio to the floor) and writes the JSON file.
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

from .load import cpu_seconds, drive, peak_rss_mb, rss_mb
from .processes import BENCH_RATE_LIMIT, floor_process, gateway_process, sandbox_server
from .scenarios import IVR, SCENARIOS, Scenario, count_fields

__all__ = ["main", "run"]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = ROOT / "bench" / "results" / "latest.json"
DATA_SYSTEMS = ("crm", "core", "ccaas", "knowledge")
LATENCY_MS = 20.0
HEADLINE_CONCURRENCY = 16
CALL_SAMPLES = 3


class Options(argparse.Namespace):
    seconds: float
    warmup: float
    concurrency: list[int]
    scenarios: list[str]
    clients: list[str]
    customers: int
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

    async def measure(self, scenario: Scenario, url: str, pid: int) -> dict[str, Any]:
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
        )
        await self.latency(0)

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
            )
            row = result.row()
            row["cpu_ms_per_op"] = _per(result.gateway_cpu_s * 1000, result.requests)
            row["sandbox_cpu_ms_per_op"] = _per(
                result.other_cpu_s["sandbox"] * 1000, result.requests
            )
            if result.first_error:
                row["first_error"] = result.first_error
            load[str(concurrency)] = row

        # the headline: at concurrency 16, or the lowest level whose answers all succeeded when
        # 16 overran the deadline or the bulkheads (failures are cheap and would flatter it)
        preferred = [c for c in o.concurrency if c <= HEADLINE_CONCURRENCY]
        clean = [c for c in preferred if not load[str(c)]["errors"]]
        headline_key = str(max(clean) if clean else max(preferred or o.concurrency))
        headline = load[headline_key]
        cpu_ms = headline["cpu_ms_per_op"]
        return {
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


def _ratio(gateway: Any, floor: Any) -> float | None:
    if not isinstance(gateway, int | float) or not isinstance(floor, int | float) or not floor:
        return None
    return round(gateway / floor, 2)


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
            env = {CLIENT_ENV: client}
            results: dict[str, Any] = {}
            with gateway_process(sandbox, extra, env=env) as (gateway, gateway_pid):
                if "screenpop" in o.scenarios:
                    await bench.pick_phone(gateway)
                for scenario in bench._scenarios():
                    _progress(f"{client}: {scenario.name} on the gateway")
                    results[scenario.name] = {
                        "gateway": await bench.measure(scenario, gateway, gateway_pid)
                    }
            if not o.no_floor:
                with floor_process(sandbox, env=env) as (floor, floor_pid):
                    for scenario in bench._scenarios():
                        _progress(f"{client}: {scenario.name} on the floor")
                        floor_result = await bench.measure(scenario, floor, floor_pid)
                        row = results[scenario.name]
                        row["floor"] = floor_result
                        row["same_data_as_floor"] = row["gateway"]["_data"] == floor_result["_data"]
                        row["ratio_to_floor"] = _ratios(row["gateway"], floor_result)
            for row in results.values():
                for target in ("gateway", "floor"):
                    if target in row:
                        row[target].pop("_data", None)
            out["runs"][client] = results
    out["machine"]["loadavg_at_end"] = list(os.getloadavg())
    return out


async def soak(options: Options) -> dict[str, Any]:
    """The screen-pop at concurrency 16 for `options.soak` seconds; the gateway's RSS sampled
    every few seconds. Flat means the end within 10% of the first sample after warm-up."""
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
        env = {CLIENT_ENV: o.clients[0]}
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


def table(out: dict[str, Any]) -> str:
    concurrency = out["settings"]["concurrency"]
    head = ["scenario", "target", "calls/op", "opt", "p50@20", "p99@20", "crit"]
    for c in concurrency:
        head += [f"rps@{c}", f"p99@{c}"]
    head += ["ops/CPU-s", "CPU ms/op", "ms/call", "us/field", "RSS MiB"]
    lines: list[list[str]] = []
    for client, results in out["runs"].items():
        for name, row in results.items():
            for target in ("gateway", "floor", "ratio"):
                if target == "ratio":
                    r = row.get("ratio_to_floor")
                    if r is None:
                        continue
                    cells = [
                        "",
                        "gw/floor",
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
                    continue
                m = row.get(target)
                if m is None:
                    continue
                label = f"{name} [{client}]" if target == "gateway" else ""
                cells = [
                    label,
                    target,
                    _fmt(m["calls_per_op"]),
                    _fmt(m["optimum_calls"]),
                    _fmt(m["latency_20ms"]["p50_ms"]),
                    _fmt(m["latency_20ms"]["p99_ms"]),
                    _fmt(m["latency_20ms"]["critical_path_ms"], 0),
                ]
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
    widths = [max(len(x) for x in col) for col in zip(head, *lines, strict=True)]
    rows = [head, *lines]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    )


def markdown(out: dict[str, Any]) -> str:
    """The table for docs/performance.md: gateway, floor and gateway/floor rows per scenario."""
    concurrency = out["settings"]["concurrency"]
    head = ["scenario", "", "calls/op (optimum)", "p50 / p99 @20 ms (critical path)"]
    head += [f"rps / p99 ms @{c}" for c in concurrency]
    head += ["**ops/CPU-s**", "CPU ms/call", "µs/field", "peak RSS MiB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for client, results in out["runs"].items():
        for name, row in results.items():
            for target in ("gateway", "floor"):
                m = row.get(target)
                if m is None:
                    continue
                slow = m["latency_20ms"]
                cells = [
                    f"`{name}` ({client})" if target == "gateway" else "",
                    target,
                    f"{_fmt(m['calls_per_op'])} ({m['optimum_calls']})",
                    f"{_fmt(slow['p50_ms'])} / {_fmt(slow['p99_ms'])} "
                    f"({_fmt(slow['critical_path_ms'], 0)})",
                ]
                for c in concurrency:
                    point = m["load_0ms"][str(c)]
                    errors = f" ({point['errors']} err)" if point["errors"] else ""
                    cells.append(f"{_fmt(point['rps'])} / {_fmt(point['p99_ms'], 0)}{errors}")
                cells += [
                    f"**{_fmt(m['ops_per_cpu_s'])}**"
                    + ("" if m["headline_concurrency"] == 16 else " (@1)"),
                    _fmt(m["cpu_ms_per_backend_call"], 2),
                    _fmt(m["us_per_field"]),
                    _fmt(m["peak_rss_mb"], 0),
                ]
                lines.append("| " + " | ".join(cells) + " |")
            r = row.get("ratio_to_floor")
            if r is not None:
                cells = [
                    "",
                    "gateway / floor",
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
                lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per point")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per point")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument(
        "--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS), metavar="NAME"
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
    parser.add_argument("--quick", action="store_true", help="a smoke run: a fraction of a second")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor")
    parser.add_argument(
        "--transport-calls", type=int, default=4000, help="calls for the seam-alone figure"
    )
    parser.add_argument(
        "--soak", type=float, default=0.0, metavar="SECONDS", help="run the RSS soak instead"
    )
    options = parser.parse_args(argv, namespace=Options())
    if options.quick:
        options.seconds, options.warmup = 0.3, 0.1
        options.transport_calls = min(options.transport_calls, 200)
        options.customers = min(options.customers, 2000)
    return options


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
        for client, results in out["runs"].items():
            for name, row in results.items():
                if row.get("same_data_as_floor") is False:
                    print(f"WARNING [{client}] {name}: the floor's data differs from the gateway's")
                if not row["gateway"]["calls_at_optimum"]:
                    print(
                        f"WARNING [{client}] {name}: back-end calls "
                        f"{row['gateway']['calls_by_route']} differ from the optimum"
                    )
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
