"""`switchboard demo` (what `python3 dev.py demo` runs): the sandbox systems and the gateway on
one loop, wired together (webhooks signed with a secret per run), tokens for every demo role, a
banner with ready-to-run examples, and an occasional simulated call to the demo agent."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import secrets
import signal
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import uvicorn

from gateway.app import create_app
from gateway.cli import _sandbox_kwargs, require_free_port, tune_gc
from gateway.config import Config, build_config
from gateway.http.desktop import DemoRole
from sources import SYSTEMS

__all__ = [
    "DEMO_ROLES",
    "SCREEN_POP_QUERY",
    "call_lines",
    "call_now_and_then",
    "demo_config",
    "demo_secret",
    "ivr_example",
    "run_demo",
]

DEMO_ROLES = (
    ("agent", "agent-0001", "agent"),
    ("supervisor", "supervisor-0001", "supervisor"),
    ("fraud analyst", "fraud-0001", "fraud_analyst"),
    ("ivr bot", "ivr-bot", "ivr"),
    ("developer", "dev-0001", "developer"),
)
SHIPPED_MANIFEST = Path(__file__).resolve().parents[1] / "docs" / "trusted-documents.json"
"""The IVR and bot operations we ship (README "Trusted documents"), in the repository the demo
runs from; the demo registers them, so its IVR bot can run something."""
IVR_EXAMPLE = "IvrIdentify"
WEBHOOK_SYSTEMS = ("ccaas", "crm", "core")
CALL_HOLD_S = 20.0
"""How long a background demo call lasts before it is hung up."""
log = logging.getLogger("switchboard.demo")


def demo_secret() -> str:
    """A fresh `whsec_` secret per demo run: the sandbox signs its webhooks with it, the gateway
    verifies them; nothing to configure, nothing that outlives the run."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def demo_config(
    gateway_port: int,
    sandbox_port: int,
    execution: str = "compiled",
    *,
    cors_origins: Sequence[str] = (),
    manifest: str = "",
    webhook_secret: str = "",
) -> dict[str, Any]:
    base = f"http://127.0.0.1:{sandbox_port}"
    webhooks = {name: {"secrets": [webhook_secret]} for name in WEBHOOK_SYSTEMS}
    return {
        "server": {
            "host": "127.0.0.1",
            "port": gateway_port,
            "profile": "development",
            "execution": execution,
            "cors_origins": list(cors_origins),
        },
        "trusted_documents": {"manifest": manifest},
        "auth": {
            "issuer": f"{base}/idp",
            "audience": "switchboard",
            "jwks_url": f"{base}/idp/.well-known/jwks.json",
        },
        "sources": {name: {"base_url": f"{base}/{name}"} for name in SYSTEMS},
        "webhooks": webhooks if webhook_secret else {},
        # the write outbox of a demo (or a test's gateway) lives and dies in a temp folder
        "writes": {
            "outbox_path": str(Path(tempfile.mkdtemp(prefix="switchboard-")) / "outbox.sqlite3")
        },
    }


class _QuietServer(uvicorn.Server):
    """Two servers share the demo's loop, so neither installs signal handlers: `_demo` does,
    and stops both (sandbox last) on SIGINT/SIGTERM with exit code 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run_demo(args: argparse.Namespace) -> int:
    from sources.sandbox import create_app as sandbox_app

    sandbox_port = args.port + 1
    require_free_port("127.0.0.1", args.port)
    require_free_port("127.0.0.1", sandbox_port, " (the sandbox's: --port + 1)")
    manifest = str(SHIPPED_MANIFEST) if SHIPPED_MANIFEST.exists() else ""
    # The gateway's port is known before either server starts, so the sandbox (started first)
    # can already be told where to post its signed webhooks.
    secret = demo_secret()
    config = build_config(
        demo_config(
            args.port,
            sandbox_port,
            args.execution,
            cors_origins=args.cors_origin,
            manifest=manifest,
            webhook_secret=secret,
        ),
        env={},
    )
    sandbox = _QuietServer(
        uvicorn.Config(
            sandbox_app(
                webhook_url=f"http://127.0.0.1:{args.port}/webhooks",
                webhook_secret=secret,
                **_sandbox_kwargs(args),
            ),
            host="127.0.0.1",
            port=sandbox_port,
            log_level="warning",
            log_config=None,  # through the cli's handler (gateway/observability/logs.py)
            access_log=False,
        )
    )
    sandbox_task = asyncio.create_task(sandbox.serve())
    try:
        while not sandbox.started:
            if sandbox_task.done():
                return 1
            await asyncio.sleep(0.05)
        return await _serve_demo(args, config, f"http://127.0.0.1:{sandbox_port}", manifest)
    finally:  # whatever ended the demo (a signal, a failed start-up), the sandbox stops too
        sandbox.should_exit = True
        await sandbox_task


async def _serve_demo(args: argparse.Namespace, config: Config, base: str, manifest: str) -> int:
    """With the sandbox up: the banner (tokens minted by its IdP), then the gateway until
    SIGINT/SIGTERM."""
    from sources.sandbox.client import mint_token, sample_customers, start_contact

    sample = (await sample_customers(base, 1))[0]
    # The agent is on a live call with the sample customer, who passed ID&V: with this
    # interaction named in X-Interaction-Id, the agent sees that customer's verified view.
    call = await start_contact(
        base, customer_id=sample["id"], agent_id=DEMO_ROLES[0][1], idv="PASSED", channel="VOICE"
    )
    headers = []
    tokens = {}
    picker = []  # the agent desktop's role picker (/desktop): the banner's tokens
    for label, sub, role in DEMO_ROLES:
        tokens[role] = await mint_token(base, sub=sub, roles=[role], ttl=8 * 3600)
        picker.append(DemoRole(role=role, subject=sub, label=label, token=tokens[role]))
        extra = {"X-Interaction-Id": call} if sub == DEMO_ROLES[0][1] else {}
        headers.append((label, json.dumps({"Authorization": f"Bearer {tokens[role]}", **extra})))
    exports = {
        "URL": f"http://127.0.0.1:{args.port}/graphql",
        "TOKEN": tokens["agent"],
        "INTERACTION_ID": call,
        "PHONE": sample["phones"][0],
    }
    if manifest:
        exports["IVR_TOKEN"] = tokens["ivr"]
    ivr = ivr_example(manifest, exports["PHONE"])
    _print_banner(args.port, base, headers, sample, exports, ivr, args.calls_every)
    ide_headers = headers[0][1]
    app = create_app(config, ide_headers=ide_headers, demo_roles=picker)
    gateway = _QuietServer(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=args.port,
            log_level="info",
            log_config=None,  # AccessLog writes the access lines, with the request's context
            access_log=False,
        )
    )
    tune_gc()
    loop = asyncio.get_running_loop()

    def stop() -> None:
        # open SSE streams (a desktop's screenPops) end, told to resume, as under `switchboard
        # serve`: uvicorn would otherwise wait for them and the demo would never stop
        app.state.drain.begin()
        gateway.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    calls = call_now_and_then(args.calls_every, _demo_call(base, sample["id"]))
    try:
        await gateway.serve()
    finally:  # SIGINT/SIGTERM or a failed start: the calls stop before the sandbox does
        if calls is not None:
            calls.cancel()
            await asyncio.gather(calls, return_exceptions=True)
    return 0


def _demo_call(base: str, customer_id: str) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        from sources.sandbox.client import end_call, start_call

        interaction = await start_call(base, customer_id, DEMO_ROLES[0][1], idv="PASSED")
        # Cancelled here when the demo stops: no hang-up then, the sandbox (and its calls) stop
        # right after, and the gateway that would receive the webhooks has already stopped.
        await asyncio.sleep(CALL_HOLD_S)
        await end_call(base, interaction)

    return call


def call_now_and_then(
    every: float, call: Callable[[], Awaitable[None]]
) -> asyncio.Task[None] | None:
    """The demo's background calls: a new `call` every `every` seconds (0: none, returns None),
    each its own task, so a call held longer than `every` does not delay the next. A failing
    call is logged and the next one still comes; cancelling the returned task (shutdown) cancels
    the calls in progress and waits for them."""
    if every <= 0:
        return None

    async def one() -> None:
        try:
            await call()
        except Exception as exc:  # the demo outlives a failed call
            log.warning("simulated call failed: %s: %s", type(exc).__name__, exc)

    async def loop() -> None:
        running: set[asyncio.Task[None]] = set()
        try:
            while True:
                await asyncio.sleep(every)
                task = asyncio.create_task(one())
                running.add(task)
                task.add_done_callback(running.discard)
        finally:
            for task in list(running):
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    return asyncio.create_task(loop(), name="demo-calls")


def ivr_example(manifest: str, phone: str) -> list[str]:
    """Banner lines for one registered IVR operation: its hash, variables with a real value and
    a ready curl line (Apollo's persistedQuery extension), and its exact text for GraphiQL."""
    if not manifest:
        return ["(docs/trusted-documents.json not found: the IVR bot can run nothing)"]
    operations = json.loads(Path(manifest).read_text(encoding="utf-8"))["operations"]
    found = [o for o in operations if o.get("name") == IVR_EXAMPLE]
    if not found:
        return []
    operation = found[0]
    payload = {
        "operationName": IVR_EXAMPLE,
        "variables": {"phone": phone},
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": operation["id"]}},
    }
    return [
        "The IVR bot may run only the registered operations of docs/trusted-documents.json,",
        f"named by sha256 hash (or sent as their exact text). {IVR_EXAMPLE}, for that phone:",
        f"  hash {operation['id']}",
        f"  variables {json.dumps(payload['variables'])}",
        "  curl -s \"$URL\" -H 'content-type: application/json' "
        '-H "authorization: Bearer $IVR_TOKEN" \\',
        f"    -d '{json.dumps(payload)}'",
        "In GraphiQL, with the IVR bot's headers, its exact text:",
        f"  {operation['body']}",
    ]


def _print_banner(
    port: int,
    sandbox: str,
    headers: list[tuple[str, str]],
    sample: dict[str, Any],
    exports: dict[str, str],
    ivr: list[str],
    calls_every: float = 0.0,
) -> None:
    lines = [
        "",
        f"Switchboard demo: GraphiQL at http://127.0.0.1:{port}/graphql",
        f"Agent desktop at http://127.0.0.1:{port}/desktop (pick a role, wait for a call)",
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
        f"  export URL={exports['URL']}",
        *(f"  export {name}='{value}'" for name, value in exports.items() if name != "URL"),
    ]
    lines += ["", *call_lines(sandbox, sample["id"], calls_every)]
    if ivr:
        lines += ["", *ivr]
    lines += ["", "A screen-pop query to try:", ""]
    lines += [SCREEN_POP_QUERY.replace("$PHONE", sample["phones"][0]), ""]
    print("\n".join(lines), flush=True)


def call_lines(sandbox: str, customer_id: str, calls_every: float) -> list[str]:
    """Banner lines: how to simulate a call to the demo agent (the sandbox posts its signed
    webhooks to the gateway), and how to hang it up."""
    body = json.dumps({"customerId": customer_id, "agentId": DEMO_ROLES[0][1], "idv": "PASSED"})
    every = (
        f"The demo itself calls agent {DEMO_ROLES[0][1]} every {calls_every:g} s "
        f"(for {CALL_HOLD_S:g} s; --calls-every 0: never)."
        if calls_every > 0
        else "The demo places no calls of its own (--calls-every 0)."
    )
    return [
        "Simulate a call to the agent (the sandbox posts signed webhooks to the gateway):",
        f"  curl -s -X POST {sandbox}/_sandbox/calls -H 'content-type: application/json' "
        f"-d '{body}'",
        "and end it with the interactionId it answers:",
        f"  curl -s -X POST {sandbox}/_sandbox/calls/<interactionId>/end",
        every,
    ]


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
