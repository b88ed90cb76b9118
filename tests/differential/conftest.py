"""Two gateways on one sandbox, identical but for `execution`: compiled plans and graphql-core's
standard execution. Every differential test sends the same request to both and compares the
answers after JSON canonicalisation, and the back-end calls each made."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from sources import SYSTEMS
from sources.sandbox.client import mint_token, reset_stats, sample_customers, start_contact, stats
from tests.support.processes import gateway_starting, sandbox_process

ROLES = ("agent", "ivr", "developer", "supervisor", "fraud_analyst", "collections")
HASH_KEY = b"differential-test-hash-key"


def canonical(body: dict[str, Any], *, calls: bool = True) -> bytes:
    """The answer with what legitimately differs between two requests taken out, keys sorted:
    the request id, each system's `ms` (timing) in `extensions.sources`, and the order of
    `errors` (GraphQL leaves it unspecified: sorted by path, then message). Without `calls`,
    the number of calls per system too (see test_fuzz: independent root fields)."""
    body = json.loads(json.dumps(body))
    extensions = body.get("extensions") or {}
    extensions.pop("requestId", None)
    for report in (extensions.get("sources") or {}).values():
        report.pop("ms", None)
        if not calls:
            report.pop("calls", None)
    errors = body.get("errors")
    if errors:
        for error in errors:
            (error.get("extensions") or {}).pop("requestId", None)
        errors.sort(key=lambda e: (json.dumps(e.get("path")), e.get("message", "")))
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def audit_events(lines: list[dict[str, Any]]) -> list[str]:
    """Audit events without their time and request id, in a stable order."""
    events = []
    for event in lines:
        event = {k: v for k, v in event.items() if k not in ("time", "requestId")}
        events.append(json.dumps(event, sort_keys=True))
    return sorted(events)


class AuditFile:
    """A gateway's audit trail, read as it grows (written before each response is sent)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def skip(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def new(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as file:
            file.seek(self.offset)
            data = file.read()
        self.offset += len(data)
        return [json.loads(line) for line in data.splitlines() if line]


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    canonical: bytes
    calls: dict[str, int] | None = None
    audit: list[str] = field(default_factory=list)


@dataclass
class Pair:
    sandbox: str
    compiled: str
    standard: str
    tokens: dict[str, str]
    interaction: dict[str, str]
    """A live, ID&V-passed interaction per role, on the sample's first customer."""
    sample: list[dict[str, Any]]
    audits: dict[str, AuditFile]

    def headers(self, role: str, *, verified: bool = True) -> dict[str, str]:
        headers = {"authorization": f"Bearer {self.tokens[role]}"}
        if verified:
            headers["x-interaction-id"] = self.interaction[role]
        return headers

    async def ask(
        self,
        http: httpx.AsyncClient,
        which: str,
        payload: dict[str, Any],
        headers: dict[str, str],
    ) -> Answer:
        url = self.compiled if which == "compiled" else self.standard
        response = await http.post(f"{url}/graphql", json=payload, headers=headers)
        body = response.json()
        return Answer(response.status_code, body, canonical(body))

    async def both(
        self,
        http: httpx.AsyncClient,
        payload: dict[str, Any],
        headers: dict[str, str],
        *,
        count_calls: bool = False,
    ) -> tuple[Answer, Answer]:
        """The same request to both gateways. With `count_calls`, one after the other with
        the sandbox's per-route counters read around each, and their audit trails kept."""
        if not count_calls:
            compiled, standard = await asyncio.gather(
                self.ask(http, "compiled", payload, headers),
                self.ask(http, "standard", payload, headers),
            )
            return compiled, standard
        answers = []
        for which in ("compiled", "standard"):
            self.audits[which].skip()
            await reset_stats(self.sandbox)
            answer = await self.ask(http, which, payload, headers)
            answer.calls = await routes(self.sandbox)
            answer.audit = audit_events(self.audits[which].new())
            answers.append(answer)
        return answers[0], answers[1]


async def routes(sandbox: str) -> dict[str, int]:
    counters = await stats(sandbox)
    return {
        f"{system} {route}": n
        for system in SYSTEMS
        for route, n in counters[system]["by_route"].items()
        if n
    }


def assert_same(compiled: Answer, standard: Answer, what: object) -> None:
    assert compiled.status == standard.status, what
    assert compiled.canonical == standard.canonical, (
        f"{what}\ncompiled: {compiled.canonical.decode()}\nstandard: {standard.canonical.decode()}"
    )
    assert compiled.calls == standard.calls, what
    assert compiled.audit == standard.audit, what
    for error in compiled.body.get("errors") or ():
        assert (error.get("extensions") or {}).get("code") != "INTERNAL", (what, error)


EXTRA_TOML = f"""
[policy]
hash_key = "{HASH_KEY.decode()}"

[trusted_documents]
roles = []

[rate_limit]
enabled = false

[routing]
# the routing context answers whatever arrived by its deadline: at 300 ms a loaded machine makes
# the two gateways' answers differ by timing alone (one side degraded), not by semantics
deadline_ms = 1500

[limits.data_budget]
enabled = false

[limits.lookups]
enabled = false
"""


@contextmanager
def _gateways(sandbox: str, audit_dir: Path) -> Iterator[tuple[str, str]]:
    """Both gateways in processes of their own (the suite then uses both cores), configured
    as in production but for: the same hash key; circuits that never open (faults come one
    after another) and no retries (their budget carries history); no trusted-documents-only
    roles and no rate limit (every role is fuzzed with free-form queries); the audit trail to
    a file per gateway."""
    env: dict[str, str] = {}
    for system in SYSTEMS:
        env[f"SWITCHBOARD_SOURCES_{system.upper()}_BREAKER_MIN_CALLS"] = "10000"
        # no retries: whether a retry goes out depends on the process's retry budget, i.e. on
        # everything that gateway did before (the two gateways' histories differ as soon as
        # two root fields' batches split differently); retries are the transport's, below
        # both executions, and tested in tests/sources
        env[f"SWITCHBOARD_SOURCES_{system.upper()}_RETRIES"] = "0"
    with (
        gateway_starting(
            sandbox,
            EXTRA_TOML,
            {
                **env,
                "SWITCHBOARD_SERVER_EXECUTION": "compiled",
                "SWITCHBOARD_AUDIT_SINK": str(audit_dir / "compiled.jsonl"),
            },
        ) as compiled,
        gateway_starting(
            sandbox,
            EXTRA_TOML,
            {
                **env,
                "SWITCHBOARD_SERVER_EXECUTION": "standard",
                "SWITCHBOARD_AUDIT_SINK": str(audit_dir / "standard.jsonl"),
            },
        ) as standard,
    ):
        yield compiled.ready()[0], standard.ready()[0]


@pytest.fixture(scope="session")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    audit_dir = tmp_path_factory.mktemp("audit")
    with (
        sandbox_process(customers=1_000) as sandbox,
        _gateways(sandbox, audit_dir) as (compiled, standard),
    ):
        sample = asyncio.run(sample_customers(sandbox, 120))

        async def setup() -> tuple[dict[str, str], dict[str, str]]:
            tokens, calls = {}, {}
            for role in ROLES:
                subject = f"{role}-diff"
                tokens[role] = await mint_token(sandbox, sub=subject, roles=[role])
                calls[role] = await start_contact(
                    sandbox, customer_id=sample[0]["id"], agent_id=subject, idv="PASSED"
                )
            return tokens, calls

        tokens, interaction = asyncio.run(setup())
        audits = {
            "compiled": AuditFile(audit_dir / "compiled.jsonl"),
            "standard": AuditFile(audit_dir / "standard.jsonl"),
        }
        yield Pair(sandbox, compiled, standard, tokens, interaction, sample, audits)
