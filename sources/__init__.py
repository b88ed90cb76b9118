"""Clients for the enterprise systems Switchboard federates, behind one transport seam.

Nothing here knows of GraphQL; resolvers see records (`sources.records`) and typed errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ._errors import (
    SourceBadResponse,
    SourceCircuitOpen,
    SourceError,
    SourceOverloaded,
    SourcePartial,
    SourceRateLimited,
    SourceTimeout,
    SourceUnavailable,
    WriteRejected,
)
from ._scope import (
    RequestScope,
    current_scope,
    more_patient,
    narrowed_scope,
    request_scope,
    scope_context,
)
from ._settings import REFERENCE_DATA, SourceSettings
from .ccaas import CcaasClient
from .core import CoreClient
from .crm import CrmClient, CrmObject, Upserted
from .identity import IdentityClient
from .knowledge import KnowledgeClient
from .transport import (
    CallObserver,
    Exchange,
    ExchangeFactory,
    MockExchange,
    Transport,
    open_exchange,
)
from .transport.resilience import CircuitState

__all__ = [
    "REFERENCE_DATA",
    "SYSTEMS",
    "CallObserver",
    "CcaasClient",
    "CircuitState",
    "CoreClient",
    "CrmClient",
    "CrmObject",
    "Exchange",
    "ExchangeFactory",
    "IdentityClient",
    "KnowledgeClient",
    "MockExchange",
    "RequestScope",
    "SourceBadResponse",
    "SourceCircuitOpen",
    "SourceError",
    "SourceOverloaded",
    "SourcePartial",
    "SourceRateLimited",
    "SourceSettings",
    "SourceTimeout",
    "SourceUnavailable",
    "Sources",
    "Transport",
    "Upserted",
    "WriteRejected",
    "current_scope",
    "more_patient",
    "narrowed_scope",
    "open_exchange",
    "request_scope",
    "scope_context",
]

SYSTEMS = ("crm", "core", "ccaas", "knowledge")


@dataclass(frozen=True, slots=True)
class Sources:
    """One client per system, each over its own connection pool; open for the process's life."""

    crm: CrmClient
    core: CoreClient
    ccaas: CcaasClient
    knowledge: KnowledgeClient

    @classmethod
    def open(
        cls,
        settings: Mapping[str, SourceSettings],
        *,
        exchange: ExchangeFactory = open_exchange,
    ) -> Sources:
        missing = [name for name in SYSTEMS if name not in settings]
        if missing:
            raise ValueError(f"no settings for source(s): {', '.join(missing)}")
        return cls(
            crm=CrmClient(Transport(settings["crm"], exchange=exchange)),
            core=CoreClient(Transport(settings["core"], exchange=exchange)),
            ccaas=CcaasClient(Transport(settings["ccaas"], exchange=exchange)),
            knowledge=KnowledgeClient(Transport(settings["knowledge"], exchange=exchange)),
        )

    def observe(self, observer: CallObserver | None) -> None:
        """Every system's calls told to `observer` (the gateway's metrics and traces)."""
        for transport in self.transports().values():
            transport.observer = observer

    def transports(self) -> dict[str, Transport]:
        return {c.name: c.transport for c in (self.crm, self.core, self.ccaas, self.knowledge)}

    async def aclose(self) -> None:
        for transport in self.transports().values():
            await transport.aclose()
