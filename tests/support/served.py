"""A gateway and its sandbox served in the test process, as a test talks to them: a token the
sandbox's IdP mints, and a GraphQL POST that must answer 200."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

from sources.sandbox.client import mint_token

__all__ = ["ServedGateway"]


@dataclass(frozen=True)
class ServedGateway:
    gateway: str
    sandbox: str

    def token(self, sub: str, roles: list[str]) -> str:
        return asyncio.run(mint_token(self.sandbox, sub=sub, roles=roles))

    def post(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        response = httpx.post(
            self.gateway + "/graphql",
            json=body,
            headers={"authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer
