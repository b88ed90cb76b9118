"""The agent desktop's systems for browser tests (tests/desktop/): the sandbox in this process,
posting signed vendor webhooks as `switchboard demo` wires it, a redis-server, and the gateway as
its own `switchboard serve` process in the development profile, on a port that stays the same
when the process is killed and started again (what a desktop sees when its gateway restarts).

The events broker is Redis, not the in-process one: the replay window outlives a gateway
restart only there, so a page that resumes with its last cursor gets the events it missed.
Timings of the sandbox's webhook posts are kept (`posted`), so a test can tell how long a pop
took from the webhook to the page without asserting on it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gateway.events.mapping import SYSTEMS as WEBHOOK_SYSTEMS
from sources import SYSTEMS
from sources.sandbox.app import SandboxApp
from sources.sandbox.app import create_app as sandbox_app
from sources.sandbox.server import background_server
from sources.sandbox.webhooks import Poster
from tests.support.processes import ROOT, free_port, stop_process, wait_ready
from tests.support.redis import RedisProcess, redis_process

__all__ = ["DemoProcess", "DesktopStack", "GatewayProcess", "Sandbox", "desktop_stack"]

SECRET = "whsec_" + "ZGVza3Rlc3QtZGVza3Rlc3QtZGVza3Rlc3QtMzJieXQ="
"""The webhook secret of the test stack (a demo makes a new one per run; any works here)."""


class GatewayProcess:
    """`switchboard serve` on a fixed public and admin port: `kill()` (SIGKILL, as a crash)
    and `start()` again serve on the same origin, so a page open on it reconnects."""

    def __init__(self, config: Path, log: Path, port: int, admin: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.ready_url = f"http://127.0.0.1:{admin}/ready"
        self._config = config
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.launch()
        self.ready()

    def launch(self) -> None:
        """Start the process without waiting (several start faster side by side)."""
        assert self._process is None, "already running"
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve", "--config", str(self._config)],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def ready(self) -> None:
        """Until it answers /ready (stopped if it never does)."""
        assert self._process is not None, "not started"
        try:
            wait_ready(self.ready_url, self._process)
        except BaseException:
            self.stop()
            raise RuntimeError(f"the gateway did not start:\n{self.log_tail()}") from None

    def kill(self) -> None:
        """A crash: no graceful shutdown, open streams are cut."""
        if self._process is not None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=15)
            self._process = None

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process)
            self._process = None

    def log_tail(self, lines: int = 40) -> str:
        """The end of its output, for a failing test's message."""
        text = self._log.read_text(errors="replace") if self._log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class DemoProcess:
    """`switchboard demo` itself (its sandbox on the next port, no calls of its own), stopped
    with SIGTERM as Ctrl-C would."""

    def __init__(self, log: Path) -> None:
        self.port = _port_pair()
        self.url = f"http://127.0.0.1:{self.port}"
        self.sandbox = f"http://127.0.0.1:{self.port + 1}"
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None

    def launch(self) -> None:
        command = [sys.executable, "-m", "gateway", "demo", "--port", str(self.port)]
        command += ["--customers", "300", "--calls-every", "0"]
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )

    def ready(self) -> None:
        """Until it serves the role picker's tokens (the last thing it sets up). Another
        process may take one of its two ports between `_port_pair` and its start (the demo
        then says so in one line and exits): it starts again on another pair, twice at most."""
        for attempt in range(3):
            assert self._process is not None, "not started"
            try:
                wait_ready(f"{self.url}/desktop/demo-tokens.json", self._process)
                return
            except BaseException:
                self.stop()
                tail = self._log.read_text(errors="replace")[-2000:]
                if attempt == 2 or "is in use; choose another" not in tail:
                    raise RuntimeError(f"the demo did not start:\n{tail}") from None
            self._log.unlink()
            self.port = _port_pair()
            self.url = f"http://127.0.0.1:{self.port}"
            self.sandbox = f"http://127.0.0.1:{self.port + 1}"
            self.launch()

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process)
            self._process = None


def _port_pair() -> int:
    """A port P with P+1 free too (the demo's gateway and its sandbox)."""
    for _ in range(50):
        port = free_port()
        try:
            with socket.create_server(("127.0.0.1", port + 1)):
                return port
        except OSError:
            continue
    raise RuntimeError("no free port pair")


@dataclass
class Sandbox:
    """The sandbox's control surface (sync, for browser tests) and its webhook post times."""

    url: str
    app: SandboxApp
    posted: dict[tuple[str, str], float] = field(default_factory=dict)
    """(contact id, CCaaS eventType) -> wall-clock time the sandbox posted that webhook."""
    _loop: asyncio.AbstractEventLoop | None = None

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, self.url + path, timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()

    def token(self, sub: str, roles: tuple[str, ...] = ("agent",)) -> str:
        form = {"sub": sub, "roles": ",".join(roles), "ttl": "3600"}
        token: str = self._call("POST", "/idp/token", data=form)["access_token"]
        return token

    def sample(self, n: int) -> list[dict[str, Any]]:
        customers: list[dict[str, Any]] = self._call("GET", "/_sandbox/sample", params={"n": n})[
            "customers"
        ]
        return customers

    def customer(self, crm_id: str) -> dict[str, Any]:
        """The CRM's record of a customer (unmasked: what the systems of record hold)."""
        records: list[dict[str, Any]] = self._call("GET", "/crm/customers", params={"id": crm_id})[
            "records"
        ]
        return records[0]

    def households(self, n: int) -> list[dict[str, Any]]:
        """Phones that 2-3 customers share: `{"phone", "customers": [crm ids]}`."""
        found: list[dict[str, Any]] = self._call("GET", "/_sandbox/households", params={"n": n})[
            "households"
        ]
        return found

    def call(
        self,
        customer: str | None,
        agent: str,
        *,
        phone: str | None = None,
        idv: str = "NOT_ATTEMPTED",
        ring_ms: int = 0,
        idv_after_ms: int = 0,
    ) -> str:
        """A call from `customer` (their CCaaS profile), or from a `phone` the CCaaS knows no
        profile of (the screen pop then shows the customers of that phone: a household)."""
        caller: dict[str, str] = {"phone": phone} if phone else {"customerId": customer or ""}
        body = {
            **caller,
            "agentId": agent,
            "idv": idv,
            "ringMs": ring_ms,
            "idvAfterMs": idv_after_ms,
        }
        interaction: str = self._call("POST", "/_sandbox/calls", json=body)["interactionId"]
        return interaction

    def verify(self, interaction: str) -> None:
        """The caller passes ID&V now: what a call's timeline does after `idvAfterMs` (the CCaaS
        contact's IdvResult, then the signed CONTACT_DATA_UPDATED webhook), on the test's cue,
        so a test sees the unverified card for as long as it needs. Start the call with
        `idv_after_ms=MAX_DELAY_MS` so its own timeline never gets there."""
        call = self.app.calls.calls[interaction]
        loop = self._loop
        assert loop is not None, "the sandbox has posted no webhook yet"

        async def passed() -> None:
            self.app.data.update_live_contact(interaction, {"IdvResult": "PASSED"})
            call.idv = "PASSED"
            self.app.calls._post(call, "CONTACT_DATA_UPDATED", agent=True, idv=True)

        asyncio.run_coroutine_threadsafe(passed(), loop).result(10)

    def end(self, interaction: str) -> None:
        self._call("POST", f"/_sandbox/calls/{interaction}/end")

    def fault(self, system: str, mode: str) -> None:
        self._call("POST", "/_sandbox/faults", json={"system": system, "mode": mode})

    def write_fault(self, mode: str) -> None:
        self._call("POST", "/_sandbox/faults/writes", json={"mode": mode, "times": None})

    def tasks(self, interaction: str) -> list[dict[str, Any]]:
        """The CRM's disposition records (Tasks) of one contact: what the wrap-up wrote."""
        records: list[dict[str, Any]] = self._call(
            "GET", "/crm/tasks", params={"interactionId": interaction}
        )["records"]
        return records

    def watch_posts(self) -> None:
        """Keep the time of every CCaaS webhook the sandbox posts (at the moment it hands it to
        its delivery task, which posts at once)."""
        poster = self.app.poster
        assert poster is not None
        send = poster.send

        def timed(system: str, payload: dict[str, Any], *, key: str | None = None) -> str:
            self._loop = asyncio.get_running_loop()  # the sandbox's, in its server thread
            detail = payload.get("detail", {}) if system == "ccaas" else {}
            if "contactId" in detail:
                self.posted.setdefault((detail["contactId"], detail["eventType"]), time.time())
            return send(system, payload, key=key)

        poster.send = timed  # type: ignore[method-assign]

    def post_to(self, base: str) -> None:
        """Point the sandbox's webhooks at another gateway (the one that takes them)."""
        poster = self.app.poster
        assert isinstance(poster, Poster)
        poster.base = f"{base}/webhooks"


@dataclass(frozen=True)
class DesktopStack:
    sandbox: Sandbox
    redis: RedisProcess
    gateway: GatewayProcess
    """Serves the page; the sandbox posts its webhooks here unless a test says otherwise."""
    replica: GatewayProcess
    """A second gateway on the same Redis (another port), for a test that needs one."""


def _gateway(sandbox: str, redis: str, folder: Path, name: str, port: int) -> GatewayProcess:
    admin = free_port()
    config = folder / f"{name}.toml"
    config.write_text(_gateway_toml(sandbox, redis, port, admin, folder))
    return GatewayProcess(config, folder / f"{name}.log", port, admin)


def _gateway_toml(sandbox: str, redis: str, port: int, admin: int, folder: Path) -> str:
    # every fault a test injects is restored by it: no circuit stays open for the next test
    sources = "".join(
        f'[sources.{s}]\nbase_url = "{sandbox}/{s}"\nbreaker_min_calls = 10000\n\n' for s in SYSTEMS
    )
    webhooks = "".join(f'[webhooks.{s}]\nsecrets = ["{SECRET}"]\n\n' for s in WEBHOOK_SYSTEMS)
    return f"""[server]
host = "127.0.0.1"
port = {port}
admin_port = {admin}
profile = "development"

[auth]
issuer = "{sandbox}/idp"
audience = "switchboard"
jwks_url = "{sandbox}/idp/.well-known/jwks.json"

[audit]
sink = "{os.devnull}"

[rate_limit]
enabled = false

[events]
redis_url = "{redis}"

[writes]
outbox_path = "{folder / f"outbox-{port}.sqlite3"}"
backoff_base_seconds = 0.1
backoff_max_seconds = 0.5
poll_seconds = 0.1

{sources}{webhooks}"""


@contextmanager
def desktop_stack(folder: Path) -> Iterator[DesktopStack]:
    """Redis, the sandbox (posting its webhooks to the gateway) and the gateway (and a second
    replica), all stopped on the way out whatever happened."""
    port = free_port()
    app = sandbox_app(
        customers=500, webhook_url=f"http://127.0.0.1:{port}/webhooks", webhook_secret=SECRET
    )
    assert app.poster is not None
    # a webhook posted while its gateway is down is delivered again for ~25 s (backoff doubles)
    app.poster.attempts = 8
    with ExitStack() as stack:
        redis = stack.enter_context(redis_process())
        url = stack.enter_context(
            background_server(app, lifespan="off", before_exit=app.abort_hanging)
        )
        sandbox = Sandbox(url, app)
        sandbox.watch_posts()
        gateway = _gateway(url, redis.url, folder, "gateway", port)
        replica = _gateway(url, redis.url, folder, "replica", free_port())
        for process in (gateway, replica):
            stack.callback(process.stop)
            process.launch()
        gateway.ready()
        replica.ready()
        yield DesktopStack(sandbox, redis, gateway, replica)
