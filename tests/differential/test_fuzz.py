"""Generated queries, compiled vs standard, for every role: at least 1,000 documents from the SDL
(hypothesis-graphql, derandomized, so the same ones every run), their arguments replaced by
values that reach real records (known ids, phones, emails, account numbers, interactions) or
fail on purpose (malformed, unknown, out of range). Each answer must be the same byte for byte
after canonicalisation (conftest.canonical), including `extensions.sources` (calls per system).

A mismatch found here becomes a case in test_regressions.py."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import pytest
from graphql import (
    ArgumentNode,
    BooleanValueNode,
    IntValueNode,
    ListValueNode,
    StringValueNode,
    ValueNode,
    Visitor,
    parse,
    print_ast,
    visit,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis_graphql import queries

from schema import build_schema

from .conftest import ROLES, Pair, assert_same, canonical

EXAMPLES = 1_000
CONCURRENCY = 8
SDL = build_schema().as_str()


def generate(n: int) -> list[str]:
    found: list[str] = []

    @settings(
        max_examples=n,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(queries(SDL))
    def collect(query: str) -> None:
        found.append(query)

    collect()
    return found


class Realistic(Visitor):
    """Replaces argument values: ids, phones, ... from the sandbox's sample (and some that must
    fail), `first` from a set around each limit."""

    def __init__(self, rng: random.Random, pool: dict[str, list[Any]]) -> None:
        super().__init__()
        self.rng = rng
        self.pool = pool

    def enter_argument(self, node: ArgumentNode, *_: Any) -> ArgumentNode:
        name = node.name.value
        value: ValueNode | None = None
        if name == "first":
            value = IntValueNode(value=str(self.rng.choice([0, 1, 2, 3, 5, 10, 20, 21, 50, 101])))
        elif name == "ids":
            ids = [self.rng.choice(self.pool["id"]) for _ in range(self.rng.randint(0, 6))]
            value = ListValueNode(values=tuple(StringValueNode(value=i) for i in ids))
        elif name in self.pool:
            value = StringValueNode(value=self.rng.choice(self.pool[name]))
        elif isinstance(node.value, BooleanValueNode | IntValueNode | StringValueNode):
            return node
        if value is None:
            return node
        return ArgumentNode(name=node.name, value=value)


def realistic(queries_: list[str], pair: Pair, seed: int) -> list[str]:
    sample = pair.sample
    pool: dict[str, list[Any]] = {
        "id": [c["id"] for c in sample[:40]]
        + ["003SB0000000000000", "not-an-id", "003SB99999999999999"]
        + list(pair.interaction.values())[:2],
        "phone": [c["phones"][0] for c in sample[:20]] + ["(555) 010-0000", "12", "+1 555"],
        "email": [c["emails"][0] for c in sample[:20]] + ["nobody@example.org", "not-email"],
        "accountNumber": [c["accountNumbers"][0] for c in sample[:20] if c["accountNumbers"]]
        + ["0000000", "x"],
        "query": ["card", "dispute", "payment", "fraud", "", "travel notice", "a" * 201],
    }
    rng = random.Random(seed)
    out = []
    for text in queries_:
        document = parse(text)
        out.append(print_ast(visit(document, Realistic(rng, pool))))
    return out


def _root_fields(query: str) -> int:
    """Root selections of the document's first operation (a fragment counts as several)."""
    for definition in parse(query).definitions:
        selection_set = getattr(definition, "selection_set", None)
        if selection_set is not None and getattr(definition, "operation", None) is not None:
            nodes = selection_set.selections
            return sum(1 if n.kind == "field" else 2 for n in nodes)
    return 0


@pytest.fixture(scope="module")
def generated() -> list[str]:
    return generate(EXAMPLES)


@pytest.mark.parametrize("role", ROLES)
async def test_generated_queries_answer_the_same(
    pair: Pair, generated: list[str], role: str
) -> None:
    assert len(generated) >= EXAMPLES
    documents = realistic(generated, pair, seed=ROLES.index(role))
    mismatches: list[str] = []
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(index: int, query: str, http: httpx.AsyncClient) -> None:
        async with gate:
            # half of them on the caller's live, verified interaction: verified treatments
            headers = pair.headers(role, verified=index % 2 == 0)
            compiled, standard = await pair.both(http, {"query": query}, headers)
            if _root_fields(query) > 1:
                # independent root fields: their second-level loads share one batch only when
                # their first answers arrive within a few event-loop turns of each other, which
                # the back-ends' timing decides, in either execution (both gateways run at
                # once against one sandbox); the calls a system got are compared for single
                # root fields, and for every document in test_scenarios/test_regressions
                compiled.canonical = canonical(compiled.body, calls=False)
                standard.canonical = canonical(standard.body, calls=False)
            try:
                assert_same(compiled, standard, query)
            except AssertionError as exc:
                mismatches.append(str(exc)[:3000])

    limits = httpx.Limits(max_connections=2 * CONCURRENCY)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        await asyncio.gather(*(one(i, q, http) for i, q in enumerate(documents)))
    assert not mismatches, f"{len(mismatches)} mismatches; first:\n" + "\n\n".join(mismatches[:3])
