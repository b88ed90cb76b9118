"""`switchboard demo` (what `python3 dev.py demo` runs) over real sockets: it prints working
tokens and a screen-pop query that answers with data from all four systems, and stops cleanly."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time

import httpx

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
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            code = demo.wait(timeout=20)
        finally:
            demo.kill()
    return code
