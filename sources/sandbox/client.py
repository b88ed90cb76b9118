"""Async helpers for driving a running sandbox's control surface and IdP from tests, benchmarks
and the demo, so none of them hand-roll the `/_sandbox` and `/idp/token` calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx


async def _call(base_url: str, method: str, path: str, **kwargs: Any) -> Any:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        response = await http.request(method, path, **kwargs)
    response.raise_for_status()
    return response.json()


async def mint_token(
    base_url: str,
    *,
    sub: str,
    roles: Sequence[str] = (),
    ttl: int = 3600,
    alg: str = "RS256",
    **claims: str | int,
) -> str:
    """A bearer token from the sandbox IdP; `claims` may override `aud`, `iss` or set `nbf`."""
    form = {"sub": sub, "roles": ",".join(roles), "ttl": str(ttl), "alg": alg}
    form.update({name: str(value) for name, value in claims.items()})
    body = await _call(base_url, "POST", "/idp/token", data=form)
    token: str = body["access_token"]
    return token


async def sample_customers(base_url: str, n: int = 10) -> list[dict[str, Any]]:
    body = await _call(base_url, "GET", "/_sandbox/sample", params={"n": n})
    customers: list[dict[str, Any]] = body["customers"]
    return customers


async def stats(base_url: str) -> dict[str, Any]:
    counters: dict[str, Any] = await _call(base_url, "GET", "/_sandbox/stats")
    return counters


async def reset_stats(base_url: str) -> None:
    await _call(base_url, "POST", "/_sandbox/reset")


async def set_fault(
    base_url: str,
    system: str,
    *,
    mode: str | None = None,
    latency_ms: float | None = None,
    error_rate: float | None = None,
) -> dict[str, Any]:
    """Change one system's fault switches (omitted ones keep their value); returns them all."""
    fault: dict[str, Any] = {"system": system}
    for name, value in (("mode", mode), ("latency_ms", latency_ms), ("error_rate", error_rate)):
        if value is not None:
            fault[name] = value
    faults: dict[str, Any] = await _call(base_url, "POST", "/_sandbox/faults", json=fault)
    return faults


async def households(base_url: str, n: int = 10) -> list[dict[str, Any]]:
    """Phones shared by a household: `[{"phone", "customers": [crm ids]}]` (2-3 each)."""
    body = await _call(base_url, "GET", "/_sandbox/households", params={"n": n})
    found: list[dict[str, Any]] = body["households"]
    return found


def _caller(customer_id: str | None, phone: str | None) -> dict[str, Any]:
    return {"customerId": customer_id} if phone is None else {"phone": phone}


async def start_contact(
    base_url: str,
    *,
    customer_id: str | None = None,
    agent_id: str,
    idv: str = "PASSED",
    channel: str = "VOICE",
    intent: str | None = None,
    phone: str | None = None,
) -> str:
    """A live contact for the customer, assigned to the agent (the screen-pop moment); with
    `phone` instead, from a caller the CCaaS system has no profile for."""
    payload: dict[str, Any] = {
        **_caller(customer_id, phone),
        "agentId": agent_id,
        "idv": idv,
        "channel": channel,
    }
    if intent is not None:
        payload["intent"] = intent
    body = await _call(base_url, "POST", "/_sandbox/contacts", json=payload)
    contact_id: str = body["id"]
    return contact_id


async def start_call(
    base_url: str,
    customer_id: str | None,
    agent_id: str,
    *,
    idv: str = "PASSED",
    ring_ms: int = 500,
    idv_after_ms: int = 1000,
    phone: str | None = None,
) -> str:
    """A simulated inbound call (POST /_sandbox/calls); returns its interaction id. With
    `phone` (and customer_id None), from a caller the CCaaS system has no profile for."""
    payload = {
        **_caller(customer_id, phone),
        "agentId": agent_id,
        "idv": idv,
        "ringMs": ring_ms,
        "idvAfterMs": idv_after_ms,
    }
    body = await _call(base_url, "POST", "/_sandbox/calls", json=payload)
    interaction_id: str = body["interactionId"]
    return interaction_id


async def end_call(base_url: str, interaction_id: str) -> None:
    """Hang up a simulated call: DISCONNECTED, then COMPLETED."""
    await _call(base_url, "POST", f"/_sandbox/calls/{interaction_id}/end")
