"""What operators and the app get: the worker runs in the gateway's lifespan and is reached as
`app.state.writes`; dead letters are listed and replayed on the internal port and from
`switchboard writes`, never with a note's text."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.config import build_config
from gateway.demo import demo_config
from gateway.http.admin import admin_app_of
from gateway.writes import OutboxWrites, WriteSettings
from gateway.writes.sqlite_store import SqliteStore
from sources.sandbox import running
from sources.sandbox.server import background_server
from tests.support.processes import ROOT

from .conftest import FAST, FakeCrm, fast_settings, task_intent
from .replica import crm_client

NOTE = "wrap-up note"  # task_intent's Description: must never show to operators


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with running(customers=50) as url:
        yield url


@pytest.fixture
def served(sandbox: str, tmp_path: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    raw = demo_config(0, int(sandbox.rsplit(":", 1)[1]))
    raw["writes"] = {**FAST, "outbox_path": str(tmp_path / "outbox.sqlite3"), "max_attempts": 1}
    app = create_app(build_config(raw, env={}))
    assert isinstance(app.state.writes, OutboxWrites)
    with (
        background_server(app, lifespan="on") as url,
        background_server(admin_app_of(app), lifespan="off") as admin,
    ):
        yield url, admin, raw


async def test_dead_letters_listed_and_replayed_on_the_internal_port_and_delivered(
    served: tuple[str, str, dict[str, Any]], sandbox: str, tmp_path: Path
) -> None:
    url, admin, raw = served
    async with httpx.AsyncClient(base_url=sandbox) as crm:
        await crm.post("/_sandbox/faults/writes", json={"mode": "error"})
        # another process's view of the same outbox file (as `switchboard writes` has)
        other = OutboxWrites(
            SqliteStore(raw["writes"]["outbox_path"]),
            crm_client(sandbox),
            WriteSettings(**raw["writes"]),
        )
        await other.open()
        try:
            result = await other.submit(task_intent("k-operator", "contact-operator"))
        finally:
            await other.aclose()
            await other.crm.transport.aclose()  # type: ignore[attr-defined]
        assert result.status == "REJECTED"  # max_attempts = 1: straight to the dead letters
        await crm.post("/_sandbox/faults/writes", json={"mode": "ok"})
        async with httpx.AsyncClient(base_url=admin) as ops:
            listed = (await ops.get("/writes/dead-letters")).json()["deadLetters"]
            assert [d["writeId"] for d in listed] == [result.write_id]
            assert listed[0]["code"] == "SOURCE_UNAVAILABLE"
            assert NOTE not in str(listed) and "fields" not in listed[0]
            assert (await ops.get("/writes/dead-letters?limit=0")).status_code == 400
            missing = await ops.post(f"/writes/w_{'0' * 32}/replay")
            assert missing.status_code == 404
            replayed = await ops.post(f"/writes/{result.write_id}/replay")
            assert replayed.json() == {"writeId": result.write_id, "status": "PENDING"}
        # the gateway's own worker (started in its lifespan) delivers it
        async with asyncio.timeout(30):  # a guard, not a timing assertion
            while True:
                tasks = await crm.get("/crm/tasks", params={"interactionId": "contact-operator"})
                if tasks.json()["totalSize"]:
                    break
                await asyncio.sleep(0.02)
        assert tasks.json()["totalSize"] == 1
    async with httpx.AsyncClient(base_url=url) as public:  # never on the public port
        assert (await public.get("/writes/dead-letters")).status_code == 404


async def test_a_write_whose_record_cannot_be_read_is_listed_on_the_internal_port(
    served: tuple[str, str, dict[str, Any]],
) -> None:
    _, admin, raw = served
    outbox = raw["writes"]["outbox_path"]
    other = OutboxWrites(
        SqliteStore(outbox), FakeCrm(mode="down"), WriteSettings(**raw["writes"])
    )  # max_attempts = 1: straight to the dead letters
    await other.open()
    try:
        good, bad = [(await other.submit(task_intent(f"k-{i}", f"c-{i}"))).write_id for i in "ab"]
    finally:
        await other.aclose()
    with sqlite3.connect(outbox) as db:
        db.execute("UPDATE writes SET record = '{}' WHERE write_id = ?", (bad,))
    async with httpx.AsyncClient(base_url=admin) as ops:
        listed = (await ops.get("/writes/dead-letters")).json()
    assert [d["writeId"] for d in listed["deadLetters"]] == [good]
    [aside] = listed["unreadable"]
    assert (aside["writeId"], aside["status"]) == (bad, "UNREADABLE") and aside["reason"]


def _cli_config(sandbox: str, tmp_path: Path, outbox: Path) -> Path:
    config = tmp_path / "switchboard.toml"
    config.write_text(
        f"""
[auth]
issuer = "{sandbox}/idp"
audience = "switchboard"
jwks_url = "{sandbox}/idp/.well-known/jwks.json"
[sources.crm]
base_url = "{sandbox}/crm"
[sources.core]
base_url = "{sandbox}/core"
[sources.ccaas]
base_url = "{sandbox}/ccaas"
[sources.knowledge]
base_url = "{sandbox}/knowledge"
[writes]
outbox_path = "{outbox.name}"
max_attempts = 1
deadline_ms = 200
claim_idle_seconds = 1.0
""",
        encoding="utf-8",
    )
    return config


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "writes", "--config", str(config), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cli_lists_and_replays_dead_letters(sandbox: str, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.sqlite3"
    config = _cli_config(sandbox, tmp_path, outbox)

    httpx.post(f"{sandbox}/_sandbox/faults/writes", json={"mode": "error", "times": 1})

    async def dead_letter() -> str:
        writes = OutboxWrites(
            SqliteStore(str(outbox)), crm_client(sandbox), WriteSettings(max_attempts=1)
        )
        await writes.open()
        try:
            return (await writes.submit(task_intent("k-cli", "contact-cli"))).write_id
        finally:
            await writes.aclose()
            await writes.crm.transport.aclose()  # type: ignore[attr-defined]

    write_id = asyncio.run(dead_letter())

    listed = _cli(config, "dead-letters")
    assert listed.returncode == 0, listed.stderr
    assert write_id in listed.stdout and NOTE not in listed.stdout
    assert _cli(config, "replay", write_id).returncode == 0
    again = _cli(config, "replay", write_id)
    assert again.returncode == 1 and "not in the dead-letter list" in again.stdout
    assert _cli(config, "dead-letters").stdout == ""


def test_the_cli_lists_a_write_whose_record_cannot_be_read(sandbox: str, tmp_path: Path) -> None:
    """A dead letter whose record was corrupted is listed as UNREADABLE with why (never its
    content), next to the readable ones, instead of failing the listing."""
    outbox = tmp_path / "outbox.sqlite3"
    config = _cli_config(sandbox, tmp_path, outbox)

    async def dead_letters() -> list[str]:
        crm, settings = FakeCrm(mode="down"), fast_settings(max_attempts=1)
        writes = OutboxWrites(SqliteStore(str(outbox)), crm, settings)
        await writes.open()
        try:  # one attempt allowed, and it failed: dead letters at once
            made = [await writes.submit(task_intent(f"k-{i}", f"contact-{i}")) for i in (1, 2)]
            return [w.write_id for w in made]
        finally:
            await writes.aclose()

    good, bad = asyncio.run(dead_letters())
    with sqlite3.connect(outbox) as db:
        db.execute("UPDATE writes SET record = 'not json' WHERE write_id = ?", (bad,))

    listed = _cli(config, "dead-letters")
    assert listed.returncode == 0, listed.stderr
    lines = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(line["writeId"], line["status"]) for line in lines] == [
        (good, "REJECTED"),
        (bad, "UNREADABLE"),
    ]
    assert "JSONDecodeError" in lines[1]["reason"] and NOTE not in listed.stdout
    assert _cli(config, "dead-letters").stdout == listed.stdout
