"""Compiled and standard execution give the same discrepancies, masked and audited the same, for
every role, verified or not, at the same back-end calls (one semantics: the comparison lives in
resolvers/discrepancies.py, the values' masking in the fields they copy)."""

from __future__ import annotations

import httpx
import pytest

from tests.differential.conftest import ROLES, Pair, assert_same

ADDRESS = "address { street city state postalCode country }"
VALUES = f"values {{ system name dateOfBirth email phone {{ number type }} {ADDRESS} }}"
QUERY = f"""query($ids: [ID!]!) {{ customers(ids: $ids) {{
  id dateOfBirth emails phones {{ number }} {ADDRESS}
  discrepancies {{ field systems severity since {VALUES} }}
  again: discrepancies {{ field values {{ dateOfBirth address {{ postalCode }} }} }}
  journey {{ openItems {{ kind summary since }} }}
}} }}"""


@pytest.mark.parametrize("role", ROLES)
async def test_discrepancies_answer_the_same_in_both_executions(pair: Pair, role: str) -> None:
    ids = [f"003SB{i:013d}" for i in range(1, 9)] + [pair.sample[0]["id"]]
    payload = {"query": QUERY, "variables": {"ids": ids}}
    async with httpx.AsyncClient(timeout=30) as http:
        for verified in (True, False):
            compiled, standard = await pair.both(
                http, payload, pair.headers(role, verified=verified), count_calls=True
            )
            assert compiled.status == 200
            assert_same(compiled, standard, (role, verified))
            assert compiled.calls is not None and compiled.calls["core GET /parties"] == 1
            found = [d for c in compiled.body["data"]["customers"] for d in c["discrepancies"]]
            assert len(found) == 5
