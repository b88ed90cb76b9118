"""How a field gets its data: per-request loaders over sources, identity resolution, journey
assembly. Plain async functions; no HTTP details, no GraphQL types."""

from __future__ import annotations

from . import discrepancies, fields, roots
from .errors import BadUserInput, NotFound, ResolverError
from .identity import (
    check_keys,
    customers_by_id,
    find_customers,
    normalise_phone,
    valid_contact_id,
    valid_customer_id,
)
from .journey import JOURNEY_WINDOW, Journey, JourneyEvent, OpenItem, recent_intents
from .loaders import Loaders

__all__ = [
    "JOURNEY_WINDOW",
    "BadUserInput",
    "Journey",
    "JourneyEvent",
    "Loaders",
    "NotFound",
    "OpenItem",
    "ResolverError",
    "check_keys",
    "customers_by_id",
    "discrepancies",
    "fields",
    "find_customers",
    "normalise_phone",
    "recent_intents",
    "roots",
    "valid_contact_id",
    "valid_customer_id",
]
