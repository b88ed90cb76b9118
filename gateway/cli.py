"""`switchboard` — serve the gateway, run the sandbox systems, run the demo, print the SDL,
list and replay the write outbox's dead letters."""

from __future__ import annotations

import argparse
import asyncio
import errno
import functools
import gc
import logging
import socket
import sys
from collections.abc import Sequence
from typing import Any

import uvicorn
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.config import (
    EXECUTION_MODES,
    Config,
    ConfigError,
    ServerSettings,
    load_config,
)
from gateway.http import serving
from gateway.http.admin import admin_app_of
from gateway.http.workers import Supervisor, listen
from gateway.limits.trusted import TrustedDocumentsError
from gateway.masking.policy import PolicyError
from gateway.observability import gcpauses
from gateway.observability.logs import LogSettings, configure_logging
from schema import build_schema

__all__ = ["main"]

log = logging.getLogger("switchboard")


class PortInUse(Exception):
    """A port the command must listen on is taken; the message names it and the way out."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="switchboard", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", required=True, help="path to switchboard.toml")
    serve.add_argument("--host", help="override [server] host")
    serve.add_argument("--port", type=int, help="override [server] port")
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="N processes sharing the ports (more than 1 needs [events] redis_url); default 1",
    )

    sandbox = commands.add_parser("sandbox", help="run the stand-in enterprise systems")
    sandbox.add_argument("--port", type=int, default=8001)
    sandbox.add_argument(
        "--host", default="127.0.0.1", help="listen address (0.0.0.0 in a container: compose.yaml)"
    )
    _sandbox_options(sandbox)
    sandbox.add_argument(
        "--webhook-url", type=_webhook_url, help="post signed vendor webhooks to URL/ccaas, ..."
    )
    sandbox.add_argument("--webhook-secret", type=_secret, help="whsec_<base64 key> to sign them")

    demo = commands.add_parser("demo", help="sandbox systems + gateway + GraphiQL")
    demo.add_argument("--port", type=int, default=8000, help="gateway port; the sandbox uses +1")
    demo.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a browser origin that may call the gateway (http://localhost:3000); repeatable",
    )
    demo.add_argument(
        "--execution",
        choices=EXECUTION_MODES,
        default="compiled",
        help="compiled plans (default) or graphql-core's standard execution, to compare them",
    )
    demo.add_argument(
        "--calls-every",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="start a simulated call to the demo agent this often (0: never); default 60",
    )
    _sandbox_options(demo)

    commands.add_parser("schema", help="print the GraphQL SDL")

    from gateway.writes.cli import add_parser as add_writes_parser

    add_writes_parser(commands)

    args = parser.parse_args(argv)
    # until `serve` has read [logging]: readable lines on stderr (the demo's and the sandbox's
    # for good; stdout carries the banners and the audit trail)
    configure_logging(LogSettings(), "development")
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "sandbox":
            from sources.sandbox import serve as serve_sandbox

            if (args.webhook_url is None) != (args.webhook_secret is None):
                parser.error("--webhook-url and --webhook-secret go together")
            require_free_port(args.host, args.port)
            serve_sandbox(
                host=args.host,
                port=args.port,
                webhook_url=args.webhook_url,
                webhook_secret=args.webhook_secret,
                **_sandbox_kwargs(args),
            )
            return 0
        if args.command == "writes":
            from gateway.writes.cli import run as run_writes

            return asyncio.run(run_writes(load_config(args.config), args))
        if args.command == "demo":
            from gateway.demo import run_demo

            return asyncio.run(run_demo(args))
        print(build_schema().as_str())
        return 0
    except (ConfigError, PolicyError, TrustedDocumentsError) as exc:
        # the policy and the manifest are configuration too: one line, no traceback
        print(f"switchboard: configuration error: {exc}", file=sys.stderr)
        return 2
    except PortInUse as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 2


def require_free_port(host: str, port: int, whose: str = "") -> None:
    """Fail in one line before anything is printed or started, rather than with a bind error
    in the middle of start-up (or, for the demo, with one of its two servers already up)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OverflowError:
            raise PortInUse(
                f"port {port}{whose} is out of range; choose another with --port"
            ) from None
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(
                    f"port {port}{whose} is in use; choose another with --port"
                ) from None
            raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _sandbox_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument(
        "--canary",
        action="store_true",
        help="mark every name, e-mail and street with 'Qanary' (to grep logs for leaks)",
    )


def _webhook_url(value: str) -> str:
    from sources.sandbox.webhooks import webhook_url

    try:
        return webhook_url(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _secret(value: str) -> str:
    from sources.sandbox.webhooks import secret_key

    try:
        secret_key(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not 0 <= seconds < 86_400:  # NaN fails too
        raise argparse.ArgumentTypeError("must be between 0 (never) and 86400 seconds")
    return seconds


def _sandbox_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "seed": args.seed,
        "customers": args.customers,
        "latency_ms": args.latency_ms,
        "canary": args.canary,
    }


def _serve(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    host = args.host or config.server.host
    port = args.port or config.server.port
    if args.workers > 1:
        return _serve_workers(args, config, host, port)
    require_free_port(host, port)
    configure_logging(config.logging, config.server.profile, key=config.policy.hash_key.encode())
    app = create_app(config)
    # uvicorn's own logging config and access log off: its loggers go through the handler
    # above, and AccessLog writes the access lines (with request id, operation, subject hash)
    public, admin = serve_configs(app, config.server, host=host, port=port, **LOGGING_OURS)
    tune_gc()
    gcpauses.install()  # after start-up's own collection: /metrics times the pauses from here
    return serving.serve(
        public, admin, drain=app.state.drain, drain_seconds=config.server.drain_seconds
    )


def _serve_workers(args: argparse.Namespace, config: Config, host: str, port: int) -> int:
    """Several processes on one pair of sockets (gateway/http/workers.py)."""
    if any(w.secrets for w in config.webhooks.values()) and not config.events.redis_url:
        raise ConfigError(
            "--workers > 1 with [webhooks] needs [events] redis_url: without it a webhook "
            "posted to one worker never reaches the subscribers of another"
        )
    if config.rate_limit.enabled and not config.rate_limit.redis_url:
        log.warning(
            "[rate_limit] without redis_url: each of the %s workers counts on its own", args.workers
        )
    if not config.policy.hash_key:
        log.warning("[policy] hash_key unset: each worker hashes with its own random key")
    require_free_port(host, port)
    require_free_port(config.server.admin_host, config.server.admin_port, " (admin_port)")
    sockets = [listen(host, port), listen(config.server.admin_host, config.server.admin_port)]
    target = functools.partial(_serve_worker, args.config, host, port)
    try:
        return Supervisor(target, sockets, args.workers, config.server.drain_seconds).run()
    finally:
        for sock in sockets:
            sock.close()


def _serve_worker(path: str, host: str, port: int, sockets: Sequence[socket.socket]) -> int:
    """One worker of `serve --workers N`, in its own process, on the parent's sockets."""
    config = load_config(path)
    configure_logging(config.logging, config.server.profile, key=config.policy.hash_key.encode())
    app = create_app(config)
    public, admin = serve_configs(app, config.server, host=host, port=port)
    tune_gc()
    gcpauses.install()  # after start-up's own collection: /metrics times the pauses from here
    return serving.serve(
        public,
        admin,
        drain=app.state.drain,
        drain_seconds=config.server.drain_seconds,
        sockets=sockets,
    )


def _workers(value: str) -> int:
    try:
        workers = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of workers: {value!r}") from None
    if not 1 <= workers <= 64:
        raise argparse.ArgumentTypeError("must be between 1 and 64")
    return workers


def serve_configs(
    app: Starlette, server: ServerSettings, **overrides: Any
) -> tuple[uvicorn.Config, uvicorn.Config]:
    """uvicorn's settings for the public port and the internal one (/ready, /metrics), from
    `[server]`: header timeout, connection cap (gateway/http/serving.py)."""
    ours = {k: v for k, v in overrides.items() if k in LOGGING_OURS}
    return (
        serving.public_config(app, server, **overrides),
        serving.admin_config(admin_app_of(app), server, **ours),
    )


LOGGING_OURS: dict[str, Any] = {"log_config": None, "log_level": None, "access_log": False}
"""uvicorn leaves logging alone: no dictConfig of its own (which would replace the handler
configure_logging installed), no levels of its own ([logging] sets them)."""


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
