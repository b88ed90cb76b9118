"""The thin road's own CPU per cached operation (issue #18, round 5): an in-process gateway on
compiled execution serves the screen-pop (or supervisor-10) one request at a time, straight
through its ASGI app (no socket on the gateway's side; the sandbox answers in a thread), and
`time.thread_time` splits each request at `execute_plan`: "before" is ASGI entry -> the plan
starts, "after" is the plan's return -> the last byte of the response; the thin road's entry and
exit and `Schema.execute`'s (or the direct road's) split them further. The sandbox's CPU is its
thread's, not counted. The collector runs with the serving process's thresholds (`tune_gc`):
with Python's defaults, fewer allocations would look like a larger saving than the server sees.

    .venv/bin/python -m bench.thin_cost [--requests 2000] [--scenario screenpop] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
import tomllib
from collections.abc import MutableMapping
from typing import Any

import orjson

import gateway.execution.select as select
from gateway.app import create_app
from gateway.cli import tune_gc
from gateway.config import build_config
from gateway.demo import demo_config
from gateway.masking.guard import Guard
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from gateway.observability.audit import AuditLog
from sources.sandbox.client import mint_token, sample_customers
from sources.sandbox.server import running
from tests.support.processes import BENCH_BUDGETS, BENCH_RATE_LIMIT

from .scenarios import SCENARIOS


async def _main(options: argparse.Namespace, sandbox: str) -> None:
    port = int(sandbox.rsplit(":", 1)[1])
    raw = demo_config(0, port)
    raw["server"]["profile"] = "production"
    raw["server"]["access_log"] = False
    raw.update(tomllib.loads(BENCH_RATE_LIMIT + BENCH_BUDGETS))
    guard = Guard(Policy.load(), Masker(b"thin-cost-key"), AuditLog(lambda lines: None))
    app = create_app(build_config(raw, env={}), guard=guard)
    tune_gc()  # the serving process's collector settings (gateway/cli.py)
    scenario = SCENARIOS[options.scenario]
    token = await mint_token(sandbox, sub=scenario.subject, roles=[scenario.role], ttl=3600)
    sample = await sample_customers(sandbox, 50)
    if scenario.name == "screenpop":
        variables: dict[str, Any] = {"phone": sample[0]["phones"][0]}
    else:
        variables = {"ids": [c["id"] for c in sample[: scenario.ids]]}
    body = orjson.dumps(
        {"query": scenario.query, "variables": variables, "operationName": scenario.operation}
    )
    headers = [
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    marks: list[float] = []
    real = select.execute_plan  # type: ignore[attr-defined]

    async def timed(*args: Any) -> Any:
        marks.append(time.thread_time())
        try:
            return await real(*args)
        finally:
            marks.append(time.thread_time())

    select.execute_plan = timed  # type: ignore[attr-defined,assignment]
    # the other marks: the thin road's entry and exit, Schema.execute's
    from gateway.http.fastpath import ThinPath

    thin_serve = ThinPath.serve
    stamps: dict[str, float] = {}

    async def serve(self: Any, *args: Any) -> None:
        stamps["serve"] = time.thread_time()
        try:
            await thin_serve(self, *args)
        finally:
            stamps["served"] = time.thread_time()

    ThinPath.serve = serve  # type: ignore[method-assign,assignment]

    async def one() -> bytes:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 8000),
        }
        sent = False
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(scope, receive, send)
        return b"".join(chunks)

    schema_execute = type(_schema(app)).execute

    async def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        stamps["execute"] = time.thread_time()
        try:
            return await schema_execute(self, *args, **kwargs)
        finally:
            stamps["executed"] = time.thread_time()

    type(_schema(app)).execute = execute
    # the direct road, when the thin path has one: its entry and exit, in the same marks
    try:
        from gateway.execution.direct import DirectRoad
    except ImportError:  # a tree before the direct road (a before/after comparison)
        DirectRoad = None  # type: ignore[assignment,misc]
    if DirectRoad is not None:
        direct_execute = DirectRoad.execute

        async def direct(self: Any, *args: Any) -> Any:
            stamps["execute"] = time.thread_time()
            try:
                return await direct_execute(self, *args)
            finally:
                stamps["executed"] = time.thread_time()

        DirectRoad.execute = direct  # type: ignore[method-assign,assignment]
    parts = dict.fromkeys(
        (
            "middleware in",
            "serve->execute",
            "execute->plan",
            "plan->executed",
            "executed->served",
            "middleware out",
        ),
        0.0,
    )

    async with app.router.lifespan_context(app):
        answer = orjson.loads(await one())
        assert not answer.get("errors"), answer.get("errors")
        for _ in range(200):  # warm
            await one()
        profile = cProfile.Profile() if options.profile else None
        before = after = total = 0.0
        if profile:
            profile.enable()
        for _ in range(options.requests):
            marks.clear()
            start = time.thread_time()
            await one()
            end = time.thread_time()
            before += marks[0] - start
            parts["middleware in"] += stamps["serve"] - start
            parts["serve->execute"] += stamps["execute"] - stamps["serve"]
            parts["execute->plan"] += marks[0] - stamps["execute"]
            parts["plan->executed"] += stamps["executed"] - marks[1]
            parts["executed->served"] += stamps["served"] - stamps["executed"]
            parts["middleware out"] += end - stamps["served"]
            after += end - marks[1]
            total += end - start
        if profile:
            profile.disable()
            stats = pstats.Stats(profile)
            stats.sort_stats("cumulative").print_stats(options.profile_lines)
    n = options.requests
    print("  ".join(f"{k} {v / n * 1e6:.1f}" for k, v in parts.items()))
    print(
        f"{scenario.name}: per request (thread CPU, us) before plan {before / n * 1e6:.1f}, "
        f"after plan {after / n * 1e6:.1f}, plan (own) {(total - before - after) / n * 1e6:.1f},"
        f" total {total / n * 1e6:.1f}"
    )


def _schema(app: Any) -> Any:
    from starlette.routing import Route

    for route in app.routes:
        if isinstance(route, Route) and route.path == "/graphql":
            endpoint: Any = route.endpoint
            return endpoint.schema
    raise RuntimeError("no /graphql")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--scenario", default="screenpop")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-lines", type=int, default=80)
    options = parser.parse_args()
    with running(seed=7, customers=2_000) as sandbox:
        asyncio.run(_main(options, sandbox))


if __name__ == "__main__":
    main()
