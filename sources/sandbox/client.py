"""A small client for the sandbox's IdP and control surface, for the demo, tests and benchmarks.

This is tooling around the stand-in systems, not the gateway's way to reach a back-end (that is
`sources._transport`), so it talks to the sandbox directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

__all__ = ["mint_token", "reset_stats", "sample_customers", "set_fault", "start_contact", "stats"]


async def _call(base_url: str, method: str, path: str, **kwargs: Any) -> Any:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        response = await http.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()


async def mint_token(
    base_url: str, *, sub: str, roles: Sequence[str], ttl: int = 3600, **claims: str
) -> str:
    """An RS256 token from the sandbox IdP (`claims`: aud, iss, nbf, alg overrides)."""
    form = {"sub": sub, "roles": ",".join(roles), "ttl": str(ttl), **claims}
    body = await _call(base_url, "POST", "/idp/token", data=form)
    token: str = body["access_token"]
    return token


async def sample_customers(base_url: str, n: int) -> list[dict[str, Any]]:
    body = await _call(base_url, "GET", "/_sandbox/sample", params={"n": n})
    customers: list[dict[str, Any]] = body["customers"]
    return customers


async def stats(base_url: str) -> dict[str, Any]:
    body: dict[str, Any] = await _call(base_url, "GET", "/_sandbox/stats")
    return body


async def reset_stats(base_url: str) -> None:
    await _call(base_url, "POST", "/_sandbox/reset")


async def set_fault(base_url: str, system: str, **settings: Any) -> None:
    await _call(base_url, "POST", "/_sandbox/faults", json={"system": system, **settings})


async def start_contact(base_url: str, **contact: Any) -> str:
    body = await _call(base_url, "POST", "/_sandbox/contacts", json=contact)
    contact_id: str = body["id"]
    return contact_id
