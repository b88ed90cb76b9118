"""`switchboard demo` (what `python3 dev.py demo` runs) over real sockets: it prints working
tokens, a screen-pop query that answers with data from all four systems and a ready IVR example,
lets a configured browser origin call, and stops cleanly; a busy port is one line, not a trace."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO, Any

import httpx
import jwt
import pytest

import gateway.demo
import sources.sandbox.client
from gateway.cli import main
from gateway.demo import call_now_and_then

from .conftest import ROOT


def free_port_pair() -> int:
    """A port P with P+1 also free (the demo's gateway and sandbox)."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port: int = a.getsockname()[1]
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port pair")


def test_demo_prints_tokens_and_a_screen_pop_that_answers_from_every_system() -> None:
    port = free_port_pair()
    command = [sys.executable, "-m", "gateway", "demo", "--port", str(port), "--customers", "500"]
    command += ["--cors-origin", "http://localhost:3000"]
    with subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as demo:
        code = _exercise(demo, port)
    assert code == 0


def _exercise(demo: subprocess.Popen[str], port: int) -> int:
    try:
        assert demo.stdout is not None
        banner: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            assert line, "demo exited early:\n" + "".join(banner)
            banner.append(line)
            if "Application startup complete" in line:
                break
        text = "".join(banner)
        agent = re.search(r"  agent:\n    (\{.*\})\n", text)
        verified = re.search(r"customer (003\w+) passed ID&V", text)
        assert agent and verified, text
        headers = json.loads(agent.group(1))
        query = text[text.index("query ScreenPop") :]
        query = query[: query.index("\n}\n") + 2]
        response = httpx.post(
            f"http://127.0.0.1:{port}/graphql", json={"query": query}, headers=headers, timeout=30
        )
        body = response.json()
        found = body["data"]["findCustomers"]
        index = next(i for i, c in enumerate(found) if c["id"] == verified.group(1))
        customer = found[index]
        # the verified customer's view is complete; other household members may be masked
        assert not [e for e in body.get("errors", []) if e["path"][:2] == ["findCustomers", index]]
        assert all(card["pan"].startswith("************") for card in customer["cards"])
        assert customer["accounts"], "core accounts missing"
        assert customer["interactions"], "CCaaS contacts missing"
        assert customer["suggestedArticles"], "knowledge articles missing"
        assert customer["cases"] is not None and customer["journey"]["events"]
        page = httpx.get(f"http://127.0.0.1:{port}/graphql", headers={"accept": "text/html"})
        token = headers["Authorization"].split()[1]
        assert page.status_code == 200 and token in page.text
        _ivr_example_answers(text)
        _browser_origin_may_call(port)
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            code = demo.wait(timeout=20)
        finally:
            demo.kill()
    return code


def _ivr_example_answers(banner: str) -> None:
    """The printed exports and IVR curl line, run as printed, answer data: the IVR bot (held
    to trusted documents) can run the shipped manifest's operation."""
    exports = [line.strip() for line in banner.splitlines() if line.startswith("  export ")]
    assert any(line.startswith("export IVR_TOKEN=") for line in exports), banner
    start = banner.index('  curl -s "$URL"')
    curl = "\n".join(banner[start:].splitlines()[:2])
    assert "persistedQuery" in curl and "$IVR_TOKEN" in curl, curl
    hashes = re.findall(r"  hash ([0-9a-f]{64})\n", banner)
    assert hashes and hashes[0] in curl
    script = "\n".join([*exports, curl])
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)
    body = json.loads(done.stdout)
    assert "errors" not in body, body
    assert body["data"]["findCustomers"], body
    # the same operation without a registered hash is refused for the IVR bot
    refused = subprocess.run(
        ["sh", "-c", script.replace(hashes[0], "0" * 64)], capture_output=True, text=True
    )
    assert "PERSISTED_QUERY_NOT_FOUND" in refused.stdout
    # what the banner offers for GraphiQL: the exact text, with the IVR bot's headers
    marker = "its exact text:\n  "
    text = banner[banner.index(marker) + len(marker) :].split("\n", 1)[0]
    values = dict(line.removeprefix("export ").split("=", 1) for line in exports)
    variables = json.loads(re.findall(r"  variables (\{.*\})\n", banner)[0])
    by_text = httpx.post(
        values["URL"],
        json={"query": text, "variables": variables},
        headers={"authorization": f"Bearer {values['IVR_TOKEN'].strip(chr(39))}"},
    ).json()
    assert "errors" not in by_text and by_text["data"] == body["data"], by_text


def _browser_origin_may_call(port: int) -> None:
    preflight = httpx.options(
        f"http://127.0.0.1:{port}/graphql",
        headers={
            "origin": "http://localhost:3000",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port another program listens on, with the next one free (the demo's sandbox port)."""
    port = free_port_pair()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port + 1))
        holder.listen()
        yield port + 1


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}


@pytest.mark.parametrize("command", ["demo-gateway", "demo-sandbox", "serve", "sandbox"])
def test_a_busy_port_is_one_line_before_any_banner(held_port: int, command: str) -> None:
    args = {
        "demo-gateway": ["demo", "--port", str(held_port), "--customers", "100"],
        "demo-sandbox": ["demo", "--port", str(held_port - 1), "--customers", "100"],
        "serve": ["serve", "--config", str(ROOT / "switchboard.example.toml")],
        "sandbox": ["sandbox", "--customers", "100"],
    }[command]
    if command in ("serve", "sandbox"):
        args += ["--port", str(held_port)]
    done = subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    whose = " (the sandbox's: --port + 1)" if command == "demo-sandbox" else ""
    assert done.stderr == (
        f"switchboard: port {held_port}{whose} is in use; choose another with --port\n"
    )


def test_sandbox_prints_its_idp_and_a_curl_line_that_mints_a_token() -> None:
    port = free_port_pair()
    command = [sys.executable, "-m", "gateway", "sandbox", "--port", str(port)]
    with subprocess.Popen(
        [*command, "--customers", "100"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as sandbox:
        try:
            assert sandbox.stdout is not None
            lines: list[str] = []
            while not any("Uvicorn running" in line for line in lines):
                line = sandbox.stdout.readline()
                assert line, "sandbox exited early:\n" + "".join(lines)
                lines.append(line)
            text = "".join(lines)
            idp = f"http://127.0.0.1:{port}/idp"
            assert f"Identity provider: {idp} " in text
            assert f"JWKS: {idp}/.well-known/jwks.json\n" in text
            curl = next(line.strip() for line in lines if line.strip().startswith("curl "))
            minted = subprocess.run(["sh", "-c", curl], capture_output=True, text=True, timeout=30)
            token = json.loads(minted.stdout)["access_token"]
            keys = jwt.PyJWKSet.from_dict(httpx.get(f"{idp}/.well-known/jwks.json").json())
            header = jwt.get_unverified_header(token)
            key = next(k for k in keys.keys if k.key_id == header["kid"])
            claims = jwt.decode(token, key, algorithms=["RS256"], audience="switchboard")
            assert claims["iss"] == idp and claims["roles"] == ["agent"]
        finally:
            sandbox.send_signal(signal.SIGINT)
            try:
                sandbox.wait(timeout=20)  # uvicorn re-raises SIGINT once it has stopped
            finally:
                sandbox.kill()


ACCEPTED_CCAAS = "switchboard.access POST /webhooks/ccaas 204 "
"""The gateway's access line (gateway/observability/logs.py), as the demo prints it."""


def test_the_banners_call_curl_reaches_the_gateway_as_signed_webhooks() -> None:
    """The demo wires the sandbox to the gateway with a secret of its own: the banner's curl
    starts a call, and the gateway answers each of the sandbox's signed deliveries 204
    (accepted; a bad signature is 401, an unconfigured system 404). Observed in the demo's own
    access log, which prints the gateway's answer to every request: no endpoint added for this."""
    port = free_port_pair()
    command = [sys.executable, "-m", "gateway", "demo", "--port", str(port)]
    command += ["--customers", "200", "--calls-every", "0"]
    with subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as demo:
        assert demo.stdout is not None
        lines: queue.Queue[str] = queue.Queue()

        def read(stdout: IO[str]) -> None:  # readline blocks: a thread, so waits can time out
            for line in stdout:
                lines.put(line)

        reader = threading.Thread(target=read, args=(demo.stdout,))
        reader.start()
        seen: list[str] = []

        def until(marker: str, count: int = 1) -> None:
            while sum(marker in line for line in seen) < count:
                seen.append(lines.get(timeout=60))
                refused = "/webhooks/" in seen[-1] and ACCEPTED_CCAAS not in seen[-1]
                assert not refused, seen[-1]  # 401: signature; 404: no secret configured

        try:
            until("Application startup complete")
            text = "".join(seen)
            assert "The demo places no calls of its own (--calls-every 0)." in text
            start = next(x.strip() for x in seen if "/_sandbox/calls -H" in x)
            assert "agent-0001" in start and '"idv": "PASSED"' in start, start
            started = subprocess.run(["sh", "-c", start], capture_output=True, text=True)
            interaction = json.loads(started.stdout)["interactionId"]
            # INITIATED, CONNECTED_TO_AGENT, CONTACT_DATA_UPDATED
            until(ACCEPTED_CCAAS, 3)
            end = next(x.strip() for x in seen if x.strip().endswith("/<interactionId>/end"))
            ended = subprocess.run(
                ["sh", "-c", end.replace("<interactionId>", interaction)],
                capture_output=True,
                text=True,
            )
            assert json.loads(ended.stdout)["state"] == "ENDED"
            until(ACCEPTED_CCAAS, 5)  # DISCONNECTED, COMPLETED
        finally:
            demo.send_signal(signal.SIGINT)
            try:
                code = demo.wait(timeout=20)
            finally:
                demo.kill()
                reader.join(timeout=5)
    assert code == 0, "".join(seen)


async def test_a_background_call_rings_the_demo_agent_and_hangs_up(
    sandbox_url: str, sample: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One of the demo's calls, against a real sandbox: the sample customer calls agent-0001,
    passes ID&V, and the call is hung up after the hold (shortened here)."""
    started: list[str] = []
    real_start = sources.sandbox.client.start_call

    async def spy(*args: Any, **kwargs: Any) -> str:
        started.append(await real_start(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(sources.sandbox.client, "start_call", spy)
    monkeypatch.setattr(gateway.demo, "CALL_HOLD_S", 0.0)
    await gateway.demo._demo_call(sandbox_url, sample[0]["id"])()
    assert len(started) == 1
    async with httpx.AsyncClient() as client:
        found = await client.get(f"{sandbox_url}/ccaas/contacts", params={"id": started[0]})
    contact = found.json()["Contacts"][0]
    assert contact["State"] == "ENDED" and contact["DisconnectTimestamp"]


async def test_calls_every_zero_places_no_calls() -> None:
    async def call() -> None:
        raise AssertionError("no call expected")

    assert call_now_and_then(0, call) is None


async def test_background_calls_survive_a_failure_and_stop_on_shutdown() -> None:
    placed: list[int] = []
    enough = asyncio.Event()
    hung_up: list[int] = []

    async def call() -> None:
        placed.append(len(placed))
        if len(placed) == 1:
            raise RuntimeError("sandbox unavailable")  # logged; the next call still comes
        if len(placed) == 3:
            enough.set()
        try:
            await asyncio.sleep(3600)  # held longer than the period: the next call still comes
        finally:
            hung_up.append(placed[-1])

    task = call_now_and_then(0.001, call)
    assert task is not None
    await asyncio.wait_for(enough.wait(), 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.done()
    calls = len(placed)
    await asyncio.sleep(0.01)
    assert len(placed) == calls  # nothing after shutdown
    assert len(hung_up) == calls - 1  # every call in progress was ended, none left running


@pytest.mark.parametrize("value", ["-1", "soon", "nan", "86400"])
def test_calls_every_rejects_what_is_not_a_period(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--calls-every", value])
    assert exited.value.code == 2
    assert "--calls-every" in capsys.readouterr().err
