"""`switchboard` — serve the gateway, run the sandbox systems, run the demo, print the SDL."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import uvicorn
from starlette.applications import Starlette

from schema import build_schema

from . import serving
from .app import create_app
from .config import EXECUTION_MODES, ConfigError, ServerSettings, build_config, load_config
from .ops import admin_app_of

__all__ = ["main"]

DEMO_ROLES = (
    ("agent", "agent-0001", "agent"),
    ("supervisor", "supervisor-0001", "supervisor"),
    ("fraud analyst", "fraud-0001", "fraud_analyst"),
    ("ivr bot", "ivr-bot", "ivr"),
    ("developer", "dev-0001", "developer"),
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="switchboard", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", required=True, help="path to switchboard.toml")
    serve.add_argument("--host", help="override [server] host")
    serve.add_argument("--port", type=int, help="override [server] port")

    sandbox = commands.add_parser("sandbox", help="run the stand-in enterprise systems")
    sandbox.add_argument("--port", type=int, default=8001)
    _sandbox_options(sandbox)

    demo = commands.add_parser("demo", help="sandbox systems + gateway + GraphiQL")
    demo.add_argument("--port", type=int, default=8000, help="gateway port; the sandbox uses +1")
    demo.add_argument(
        "--execution",
        choices=EXECUTION_MODES,
        default="compiled",
        help="compiled plans (default) or graphql-core's standard execution, to compare them",
    )
    _sandbox_options(demo)

    commands.add_parser("schema", help="print the GraphQL SDL")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per back-end call is noise
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "sandbox":
            from sources.sandbox import serve as serve_sandbox

            serve_sandbox(port=args.port, **_sandbox_kwargs(args))
            return 0
        if args.command == "demo":
            return asyncio.run(_demo(args))
        print(build_schema().as_str())
        return 0
    except ConfigError as exc:
        print(f"switchboard: configuration error: {exc}", file=sys.stderr)
        return 2


def _sandbox_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=0.0)


def _sandbox_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {"seed": args.seed, "customers": args.customers, "latency_ms": args.latency_ms}


def _serve(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    host = args.host or config.server.host
    port = args.port or config.server.port
    app = create_app(config)
    public, admin = serve_configs(app, config.server, host=host, port=port)
    tune_gc()
    return serving.serve(public, admin)


def serve_configs(
    app: Starlette, server: ServerSettings, **overrides: Any
) -> tuple[uvicorn.Config, uvicorn.Config]:
    """uvicorn's settings for the public port and the internal one (/ready, /metrics), from
    `[server]`: header timeout, connection cap (gateway/serving.py)."""
    return (
        serving.public_config(app, server, **overrides),
        serving.admin_config(admin_app_of(app), server),
    )


GC_THRESHOLDS = (100_000, 50, 100)
"""Python's default (700, 10, 10) runs a young-generation collection every 700 allocations: a
1,000-customer answer allocates a few hundred thousand objects (records, dicts, tuples), almost
all freed by reference counting once the answer is sent, yet scanned and promoted while they
live; the collections cost 20-40% of such an answer's CPU. Every 100,000 allocations they cost a
fraction of that; at 500,000 a single collection became a visible pause at p99 and peak RSS grew
by 60% (docs/performance.md: GC), so not more."""


def tune_gc() -> None:
    """For the serving process: what start-up built (schema, plans of trusted documents,
    policy) is frozen out of every collection, and collections run less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def demo_config(
    gateway_port: int, sandbox_port: int, execution: str = "compiled"
) -> dict[str, Any]:
    base = f"http://127.0.0.1:{sandbox_port}"
    return {
        "server": {
            "host": "127.0.0.1",
            "port": gateway_port,
            "profile": "development",
            "execution": execution,
        },
        "auth": {
            "issuer": f"{base}/idp",
            "audience": "switchboard",
            "jwks_url": f"{base}/idp/.well-known/jwks.json",
        },
        "sources": {
            name: {"base_url": f"{base}/{name}"} for name in ("crm", "core", "ccaas", "knowledge")
        },
    }


class _QuietServer(uvicorn.Server):
    """Two servers share the demo's loop, so neither installs signal handlers: `_demo` does,
    and stops both (sandbox last) on SIGINT/SIGTERM with exit code 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _demo(args: argparse.Namespace) -> int:
    from sources.sandbox import create_app as sandbox_app
    from sources.sandbox.client import mint_token, sample_customers, start_contact

    sandbox_port = args.port + 1
    sandbox = _QuietServer(
        uvicorn.Config(
            sandbox_app(**_sandbox_kwargs(args)),
            host="127.0.0.1",
            port=sandbox_port,
            log_level="warning",
        )
    )
    sandbox_task = asyncio.create_task(sandbox.serve())
    while not sandbox.started:
        if sandbox_task.done():
            return 1
        await asyncio.sleep(0.05)
    base = f"http://127.0.0.1:{sandbox_port}"
    config = build_config(demo_config(args.port, sandbox_port, args.execution), env={})
    sample = (await sample_customers(base, 1))[0]
    # The agent is on a live call with the sample customer, who passed ID&V: with this
    # interaction named in X-Interaction-Id, the agent sees that customer's verified view.
    call = await start_contact(
        base, customer_id=sample["id"], agent_id=DEMO_ROLES[0][1], idv="PASSED", channel="VOICE"
    )
    headers = []
    for label, sub, role in DEMO_ROLES:
        token = await mint_token(base, sub=sub, roles=[role], ttl=8 * 3600)
        extra = {"X-Interaction-Id": call} if sub == DEMO_ROLES[0][1] else {}
        headers.append((label, json.dumps({"Authorization": f"Bearer {token}", **extra})))
    agent_token = json.loads(headers[0][1])["Authorization"].split()[1]
    _print_banner(args.port, base, headers, sample, agent_token, call)
    ide_headers = headers[0][1]
    gateway = _QuietServer(
        uvicorn.Config(
            create_app(config, ide_headers=ide_headers),
            host="127.0.0.1",
            port=args.port,
            log_level="info",
        )
    )
    tune_gc()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, setattr, gateway, "should_exit", True)
    try:
        await gateway.serve()
    finally:
        sandbox.should_exit = True
        await sandbox_task
    return 0


def _print_banner(
    port: int,
    sandbox: str,
    headers: list[tuple[str, str]],
    sample: dict[str, Any],
    agent_token: str,
    interaction_id: str,
) -> None:
    lines = [
        "",
        f"Switchboard demo: GraphiQL at http://127.0.0.1:{port}/graphql",
        f"(sandbox systems at {sandbox})",
        "",
        "GraphiQL's Headers tab starts with the agent's headers: a token and the live call",
        f"(X-Interaction-Id) on which customer {sample['id']} passed ID&V. Paste another set to",
        "see what each role may see; drop X-Interaction-Id to see the agent's unverified view.",
        "(Tokens are valid 8 hours; audit events are printed as JSON lines.)",
    ]
    for label, header in headers:
        lines += [f"  {label}:", f"    {header}"]
    lines += [
        "",
        "For the curl examples of README.md and docs/, in another terminal:",
        f"  export URL=http://127.0.0.1:{port}/graphql",
        f"  export TOKEN='{agent_token}'",
        f"  export INTERACTION_ID='{interaction_id}'",
        f"  export PHONE='{sample['phones'][0]}'",
    ]
    lines += ["", "A screen-pop query to try:", ""]
    lines += [SCREEN_POP_QUERY.replace("$PHONE", sample["phones"][0]), ""]
    print("\n".join(lines), flush=True)


SCREEN_POP_QUERY = """query ScreenPop {
  findCustomers(phone: "$PHONE") {
    id fullName segment
    accounts { type productName balance transactions(first: 3) { postedAt amount description } }
    cards { pan brand status }
    interactions(first: 5) { channel startedAt intent verified }
    cases(status: OPEN) { number subject status priority }
    journey {
      stage repeatContact
      lastContact { channel intent idvResult }
      events(first: 5) { at system kind summary }
    }
    suggestedArticles { title url }
    risk { fraudHold collectionsStatus }
  }
}"""
