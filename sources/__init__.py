"""Clients for the enterprise systems Switchboard federates, behind one transport seam.

Nothing here knows of GraphQL; resolvers see records (`sources.records`) and typed errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from ._errors import (
    SourceBadResponse,
    SourceCircuitOpen,
    SourceError,
    SourceOverloaded,
    SourcePartial,
    SourceRateLimited,
    SourceTimeout,
    SourceUnavailable,
)
from ._scope import RequestScope, current_scope, request_scope
from ._settings import REFERENCE_DATA, SourceSettings
from .ccaas import CcaasClient
from .core import CoreClient
from .crm import CrmClient
from .identity import IdentityClient
from .knowledge import KnowledgeClient
from .transport import Transport

__all__ = [
    "REFERENCE_DATA",
    "SYSTEMS",
    "CcaasClient",
    "CoreClient",
    "CrmClient",
    "IdentityClient",
    "KnowledgeClient",
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
    "current_scope",
    "request_scope",
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
        mock: httpx.AsyncBaseTransport | None = None,
    ) -> Sources:
        missing = [name for name in SYSTEMS if name not in settings]
        if missing:
            raise ValueError(f"no settings for source(s): {', '.join(missing)}")
        return cls(
            crm=CrmClient(Transport(settings["crm"], mock=mock)),
            core=CoreClient(Transport(settings["core"], mock=mock)),
            ccaas=CcaasClient(Transport(settings["ccaas"], mock=mock)),
            knowledge=KnowledgeClient(Transport(settings["knowledge"], mock=mock)),
        )

    def transports(self) -> dict[str, Transport]:
        return {c.name: c.transport for c in (self.crm, self.core, self.ccaas, self.knowledge)}

    async def aclose(self) -> None:
        for transport in self.transports().values():
            await transport.aclose()
