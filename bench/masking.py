"""What masking costs: the same 200-customer query executed with and without the masking
wrappers, back-end answers replayed from memory so the figure is the gateway's own CPU.

    python -m bench.masking [--customers 200] [--rounds 40]

Prints a table (median CPU ms per operation, per role) and the overhead of masking.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass
from typing import Any

import httpx

from gateway.auth.authenticator import Principal
from gateway.masking.access import Access
from gateway.masking.guard import Guard
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from gateway.masking.verification import Verification
from gateway.masking.wrappers import install_masking
from gateway.observability.audit import AuditLog
from gateway.observability.errors import quiet_strawberry_logger
from gateway.observability.trail import audit_trail
from resolvers import Loaders
from schema import build_schema
from sources import SYSTEMS, Sources, SourceSettings
from sources.sandbox import create_app
from sources.transport import HttpxExchange

QUERY = """query Supervisor($ids: [ID!]!) { customers(ids: $ids) {
  id fullName segment ssn dateOfBirth emails phones { number type }
  address { street city state postalCode }
  cards { id pan last4 brand status expiry }
  accounts { id type productName accountNumber balance availableBalance
             transactions(first: 5) { id postedAt amount currency description status merchant } }
  risk { needsSpecialist fraudHold collectionsStatus }
  interactions(first: 5) { id channel startedAt intent summary verified }
} }"""


class Replay(httpx.AsyncBaseTransport):
    """Answers from a recording of the sandbox, so the benchmark measures the gateway only."""

    def __init__(self, app: Any) -> None:
        self._live = httpx.ASGITransport(app=app)
        self._recorded: dict[str, tuple[int, bytes]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = str(request.url)
        if key not in self._recorded:
            response = await self._live.handle_async_request(request)
            self._recorded[key] = (response.status_code, await response.aread())
        status, body = self._recorded[key]
        return httpx.Response(status, content=body, headers={"content-type": "application/json"})


@dataclass
class Context:
    loaders: Loaders
    access: Access | None
    request_id: str = "bench"

    async def ready(self) -> None:
        return None


async def run(customers: int, rounds: int) -> None:
    quiet_strawberry_logger()  # as the gateway does: denials must not log tracebacks
    sandbox = create_app(customers=max(customers, 1000))
    settings = {n: SourceSettings(name=n, base_url=f"http://sandbox/{n}") for n in SYSTEMS}
    sources = Sources.open(settings, exchange=HttpxExchange.over(Replay(sandbox)))
    ids = await _known_ids(sources, customers)

    plain = build_schema()
    guard = Guard(Policy.load(), Masker(b"bench"), AuditLog(lambda _: None))
    masked = build_schema(extensions=[audit_trail(guard.policy, guard.audit, guard.admission)])
    install_masking(masked)

    rows = []
    for role in ("supervisor", "fraud_analyst", "agent", "developer"):
        principal = Principal(
            subject="bench", roles=frozenset({role}), issuer="bench", expires_at=0
        )

        def context(with_masking: bool, principal: Principal = principal) -> Context:
            loaders = Loaders(sources)
            access = None
            if with_masking:
                access = Access(
                    guard.policy,
                    guard.masker,
                    principal,
                    Verification(None, "bench"),
                    interaction_id=None,
                )
            return Context(loaders=loaders, access=access)

        timings: dict[bool, list[float]] = {False: [], True: []}
        denied = 0
        for i in range(rounds + 3):
            for with_masking in (False, True):
                schema = masked if with_masking else plain
                started = time.process_time()
                result = await schema.execute(
                    QUERY, {"ids": ids}, context_value=context(with_masking)
                )
                spent = time.process_time() - started
                assert result.data is not None and len(result.data["customers"]) == customers
                if with_masking:
                    denied = len(result.errors or [])
                if i >= 3:  # warm-up: parse/validation caches, the replay recording
                    timings[with_masking].append(spent * 1000)
        base, with_mask = statistics.median(timings[False]), statistics.median(timings[True])
        rows.append((role, base, with_mask, (with_mask / base - 1) * 100, denied))
    await sources.aclose()

    print(
        f"masking cost: customers(ids: {customers}), {rounds} rounds, median CPU ms per operation"
    )
    print(f"{'role':<14}{'no masking':>12}{'masking':>10}{'extra':>9}{'denied':>9}")
    for role, base, with_mask, extra, denied in rows:
        print(f"{role:<14}{base:>12.1f}{with_mask:>10.1f}{extra:>8.1f}%{denied:>9}")
    print("(denied: values refused per operation, each a null plus a FORBIDDEN_FIELD error)")


async def _known_ids(sources: Sources, n: int) -> list[str]:
    """Ids of customers the sandbox knows (its ids are not dense)."""
    found: list[str] = []
    index = 0
    while len(found) < n:
        batch = [f"003SB{i:013d}" for i in range(index, index + 400)]
        found += [c.id for c in await sources.crm.customers("id", batch)]
        index += 400
    return sorted(found)[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(run(args.customers, args.rounds))


if __name__ == "__main__":
    main()
