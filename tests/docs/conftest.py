"""The documentation's examples against a real `switchboard demo` (default seed and customer
count, as `python3 dev.py demo` runs it), and the fenced blocks of README.md and docs/*.md."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..integration.test_demo_command import free_port_pair

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLES = ROOT / "docs" / "examples"

_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*(?P<key>[\w-]+):\s*(?P<value>.*?)\s*-->\s*$")
_EXPORT = re.compile(r"^  export (?P<name>\w+)='?(?P<value>[^'\n]*)'?$", re.MULTILINE)


@dataclass(frozen=True)
class Block:
    """A fenced code block: its language, text (fence indentation removed) and the marker
    comment on the line before it (`<!-- key: value -->`), if any."""

    document: Path
    line: int
    lang: str
    text: str
    marker: tuple[str, str] | None

    @property
    def id(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"


def fenced_blocks(document: Path) -> list[Block]:
    lines = document.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None or not opening["lang"]:
            index += 1
            continue
        indent = opening["indent"]
        end = index + 1
        while lines[end].strip() != "```":
            end += 1
        previous = next((ln for ln in reversed(lines[:index]) if ln.strip()), "")
        marker = _MARKER.match(previous)
        text = "\n".join(ln.removeprefix(indent) for ln in lines[index + 1 : end])
        blocks.append(
            Block(
                document,
                index + 1,
                opening["lang"],
                text + "\n",
                (marker["key"], marker["value"]) if marker else None,
            )
        )
        index = end + 1
    return blocks


def blocks(lang: str) -> list[Block]:
    return [b for d in DOCUMENTS for b in fenced_blocks(d) if b.lang == lang]


@dataclass(frozen=True)
class Demo:
    url: str
    env: dict[str, str]
    """What the banner exports: URL, TOKEN, INTERACTION_ID, PHONE."""
    agent_headers: dict[str, str]
    banner: str


@pytest.fixture(scope="session")
def demo() -> Iterator[Demo]:
    port = free_port_pair()
    command = [sys.executable, "-m", "gateway", "demo", "--port", str(port)]
    with subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        try:
            banner: list[str] = []
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                line = process.stdout.readline()
                assert line, "demo exited early:\n" + "".join(banner)
                banner.append(line)
                if "Application startup complete" in line:
                    break
            # keep reading (access and audit lines) so the demo never blocks on a full pipe
            drain = threading.Thread(target=process.stdout.read, daemon=True)
            drain.start()
            text = "".join(banner)
            env = {m["name"]: m["value"] for m in _EXPORT.finditer(text)}
            agent = re.search(r"  agent:\n    (\{.*\})\n", text)
            assert agent and {"URL", "TOKEN", "INTERACTION_ID", "PHONE"} <= set(env), text
            yield Demo(env["URL"], env, json.loads(agent.group(1)), text)
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) == 0
