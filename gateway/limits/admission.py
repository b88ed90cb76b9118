"""Per request, before execution: the operation's lookups checked against the caller's limits
(per operation, and per window of keys searched) and the caller's data budget opened, so a
refusal costs no back-end call; after execution, the budget's use committed. What happened is
reported as audit events, which the audit trail writes (gateway/observability/trail.py).
Every per-caller count is keyed by (issuer, subject)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLError
from graphql.execution.values import VariableValues
from strawberry.types import ExecutionContext

from gateway.auth.authenticator import Principal
from gateway.limits.budget import (
    DataBudget,
    DataBudgetSettings,
    Ledger,
    Lookup,
    Lookups,
    LookupSettings,
    find_lookups,
    lookup_error,
)

__all__ = ["Admission"]


class Admission:
    """One request's admission: built per request, with the shared per-subject stores (None:
    that limit is off)."""

    __slots__ = ("_budget", "_lookups", "alerts", "found", "ledger", "refused")

    def __init__(
        self,
        budget: tuple[DataBudget, DataBudgetSettings] | None,
        lookups: tuple[Lookups, LookupSettings] | None,
    ) -> None:
        self._budget = budget
        self._lookups = lookups
        self.found: list[Lookup] | None = None
        self.ledger: Ledger | None = None
        """The caller's data budget for this request (masking charges it: `Access.budget`)."""
        self.refused: GraphQLError | None = None
        self.alerts: list[dict[str, Any]] = []
        """Audit events raised by a limit (lookup_limit_exceeded, data_budget_exceeded)."""

    async def admit(
        self, ec: ExecutionContext, principal: Principal, coerced: VariableValues | None = None
    ) -> GraphQLError | None:
        """The refusal of the operation (also kept in `refused`), or None: admitted, and the
        data budget, if any, opened in `ledger`. `coerced`: the operation's variables as its
        executor coerced them (the direct road's), or None (found coerces them)."""
        who = (principal.issuer, principal.subject)
        self.found = find_lookups(
            ec.schema._schema, ec.graphql_document, ec.operation_name, ec.variables, coerced
        )
        if self._lookups is not None:
            store, settings = self._lookups
            refused = await self._take(self.found, who, principal.roles, store, settings)
            if refused is not None:
                self.refused = refused
                return refused
        await self.open_budget(principal)
        return None

    async def open_budget(self, principal: Principal) -> None:
        """The caller's data budget, if any, opened in `ledger`: a query's before it executes,
        a subscription event's before its frame is built (gateway/events/feed.py)."""
        if self._budget is not None:
            budget, settings = self._budget
            who = (principal.issuer, principal.subject)
            self.ledger = await budget.open(who, settings.limit_for(principal.roles))

    async def _take(
        self,
        found: list[Lookup],
        who: tuple[str, str],
        roles: frozenset[str],
        lookups: Lookups,
        settings: LookupSettings,
    ) -> GraphQLError | None:
        if len(found) > settings.per_operation:
            return lookup_error(
                f"at most {settings.per_operation} lookups per operation, found {len(found)}"
            )
        keys = sum(1 for f in found if f.guessable)
        if keys == 0:
            return None
        limit = settings.limit_for(roles)
        taken = await lookups.take(who, keys, limit)
        if taken.allowed:
            return None
        if taken.alert:
            self.alerts.append(
                {
                    "type": "lookup_limit_exceeded",
                    "windowSeconds": settings.window_seconds,
                    "limit": limit,
                }
            )
        return lookup_error(
            f"at most {limit} lookups per {int(settings.window_seconds)} s", taken.retry_after
        )

    async def commit(self, principal: Principal) -> None:
        """After execution: the customers read count against the caller's budget; the first
        request over it raises `data_budget_exceeded`."""
        if self.ledger is None or self._budget is None:
            return
        budget, settings = self._budget
        if await budget.commit((principal.issuer, principal.subject), self.ledger):
            self.alerts.append(
                {
                    "type": "data_budget_exceeded",
                    "windowStart": datetime.fromtimestamp(
                        self.ledger.window_start, UTC
                    ).isoformat(),
                    "windowSeconds": settings.window_seconds,
                    "limit": self.ledger.limit,
                    "customers": self.ledger.used,
                }
            )

    def events(self, result: Any) -> list[dict[str, Any]]:
        """The limits' alerts, then one event per lookup root field: which, with which kinds of
        key, and how it ended (matches: how many customers it found) — never the key's value."""
        data = getattr(result, "data", None) if self.refused is None else None
        events = list(self.alerts)
        for found in self.found or ():
            value = data.get(found.key) if isinstance(data, dict) else None
            if self.refused is not None:
                outcome, matches = "refused", 0
            elif not isinstance(data, dict):
                outcome, matches = "failed", 0
            elif isinstance(value, dict) and "matches" in value:
                # routingContext: how many it found (null: the CRM did not answer)
                found_n = value["matches"]
                matches = found_n if isinstance(found_n, int) else 0
                outcome = "failed" if found_n is None else ("found" if matches else "none")
            elif isinstance(value, list):
                matches = sum(1 for v in value if v is not None)
                outcome = "found" if matches else "none"
            else:
                matches = 0 if value is None else 1
                outcome = "found" if matches else "none"
            events.append(
                {
                    "type": "lookup",
                    "field": found.field,
                    "path": found.key,
                    "keys": list(found.kinds),
                    "outcome": outcome,
                    "matches": matches,
                }
            )
        return events
