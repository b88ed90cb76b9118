"""The documentation's streaming curl examples (`<!-- stream: ... -->`, e.g. README "Events
out over SSE") run as written against the demo: a simulated call to the demo agent arrives
on the stream as a `next` frame with its cursor as `id:`. They never end by themselves, so
they are read until that frame, then stopped."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from gateway.demo import DEMO_ROLES
from sources.sandbox.client import sample_customers, start_call

from .conftest import Block, Demo, blocks

STREAMS = [b for b in blocks("sh") if b.marker and b.marker[0] == "stream"]


def test_the_readme_has_a_streaming_example() -> None:
    assert STREAMS


def _frame(lines: list[str]) -> dict[str, Any] | None:
    """The first complete `next` frame among the lines read so far."""
    fields: dict[str, Any] = {}
    for line in lines:
        if line == "":
            if fields.get("event") == "next":
                return fields
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
    return None


@pytest.mark.parametrize("block", STREAMS, ids=[b.id for b in STREAMS])
def test_streaming_curl_example_pops_a_simulated_call(
    block: Block, demo: Demo, tmp_path: Path
) -> None:
    field = block.marker[1] if block.marker else ""
    sandbox = re.search(r"(http://127\.0\.0\.1:\d+)/_sandbox/calls", demo.banner)
    assert sandbox, demo.banner
    env = {**os.environ, **demo.env, "CURL_HOME": str(tmp_path)}  # no user .curlrc
    with subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", block.text],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as curl:
        assert curl.stdout is not None
        guard = threading.Timer(60, curl.terminate)  # a stream that never pops fails, not hangs
        guard.start()
        try:
            lines: list[str] = []
            # curl subscribes within the ring time: it gets the CONNECTED pop at least
            agent = DEMO_ROLES[0][1]
            customer = asyncio.run(sample_customers(sandbox.group(1), 1))[0]["id"]
            asyncio.run(start_call(sandbox.group(1), customer, agent, ring_ms=2000))
            frame = None
            while frame is None:
                line = curl.stdout.readline()
                assert line, f"{block.id}: the stream ended without a pop"
                lines.append(line.rstrip("\n"))
                frame = _frame(lines)
        finally:
            guard.cancel()
            curl.terminate()
    payload = json.loads(frame["data"])
    pop = payload["data"][field]
    assert frame["id"] == pop["cursor"]
    assert pop["interaction"]["id"]
