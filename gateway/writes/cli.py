"""`switchboard writes dead-letters|replay`: the operator's view of the outbox, from the same
configuration as `switchboard serve` (the same SQLite file or Redis), no server needed.

A replayed write is picked up by a running gateway's worker at its next look; the CLI itself
never calls the CRM.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping

from gateway.config import Config
from gateway.writes import NotADeadLetter, OutboxWrites, store_of
from sources import CrmObject, Upserted

__all__ = ["add_parser", "run"]


class _NoCrm:
    """The CLI lists and requeues; delivering is the gateway's worker's job."""

    async def upsert(
        self,
        obj: CrmObject,
        external_id: str,
        fields: Mapping[str, str | None],
        *,
        budget: float | None = None,
    ) -> Upserted:
        raise RuntimeError("the writes CLI never calls the CRM")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    writes = commands.add_parser("writes", help="the write outbox: dead letters and replay")
    writes.add_argument("--config", required=True, help="path to switchboard.toml")
    actions = writes.add_subparsers(dest="action", required=True)
    listing = actions.add_parser(
        "dead-letters", help="list writes the worker gave up on, and those it could not read"
    )
    listing.add_argument("--limit", type=int, default=100, choices=range(1, 1001), metavar="N")
    again = actions.add_parser("replay", help="put a dead letter back into the outbox")
    again.add_argument("write_id")


async def run(config: Config, args: argparse.Namespace) -> int:
    """Print JSON lines; exit 1 when the write to replay is not a dead letter."""
    service = OutboxWrites(store_of(config.writes, config.events), _NoCrm(), config.writes)
    await service.open()
    try:
        if args.action == "dead-letters":
            for record in await service.dead_letters(args.limit):
                print(json.dumps(record.summary()))
            for aside in await service.unreadable(args.limit):  # "status": "UNREADABLE"
                print(json.dumps(aside.summary()))
            return 0
        try:
            result = await service.replay(args.write_id)
        except NotADeadLetter as exc:
            print(f"switchboard: {exc}")
            return 1
        print(json.dumps({"writeId": result.write_id, "status": result.status}))
        return 0
    finally:
        await service.aclose()
