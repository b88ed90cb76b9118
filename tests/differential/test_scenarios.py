"""The benchmark's operations and the fault scenarios, compiled vs standard: the same answer
(data, errors, extensions.sources), the same back-end calls by route, the same audit trail."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bench.scenarios import IVR, SCREEN_POP, SUPERVISOR
from sources import SYSTEMS
from sources.sandbox.client import set_fault

from .conftest import ROLES, Pair, assert_same


def _variables(pair: Pair, which: str, ids: int = 0) -> dict[str, Any]:
    first = pair.sample[0]
    if which == "screenpop":
        return {"phone": first["phones"][0]}
    if which == "ivr":
        return {"id": first["id"]}
    return {"ids": [c["id"] for c in pair.sample[:ids]]}


OPERATIONS = {"screenpop": SCREEN_POP, "ivr": IVR, "supervisor": SUPERVISOR}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("name", "ids"), [("screenpop", 0), ("ivr", 0), ("supervisor", 10), ("supervisor", 120)]
)
async def test_bench_scenarios_answer_the_same(pair: Pair, role: str, name: str, ids: int) -> None:
    payload = {"query": OPERATIONS[name], "variables": _variables(pair, name, ids)}
    async with httpx.AsyncClient(timeout=30) as http:
        for verified in (True, False):
            compiled, standard = await pair.both(
                http, payload, pair.headers(role, verified=verified), count_calls=True
            )
            assert compiled.status == 200
            assert_same(compiled, standard, (name, ids, role, verified))


FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("down", {"mode": "down"}),
    ("garbage", {"mode": "garbage"}),
    ("error", {"mode": "error"}),
    ("slow", {"latency_ms": 150.0}),
    ("timeout", {"mode": "timeout"}),
]


@pytest.mark.parametrize("system", SYSTEMS)
@pytest.mark.parametrize(("fault", "switches"), FAULTS, ids=[f for f, _ in FAULTS])
async def test_faults_answer_the_same(
    pair: Pair, system: str, fault: str, switches: dict[str, Any]
) -> None:
    await set_fault(pair.sandbox, system, **switches)
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            for name, ids in (("screenpop", 0), ("supervisor", 20)):
                payload = {"query": OPERATIONS[name], "variables": _variables(pair, name, ids)}
                headers = {**pair.headers("agent"), "x-request-timeout-ms": "600"}
                compiled, standard = await pair.both(http, payload, headers, count_calls=True)
                assert_same(compiled, standard, (system, fault, name))
    finally:
        await set_fault(pair.sandbox, system, mode="ok", latency_ms=0, error_rate=0.0)
