"""Routing context for contact flows: the rules file (`rules.py`, `routing.toml`), `[routing]`
settings, and `GET /routing/v1/context`, the flat projection of `Query.routingContext`."""

from __future__ import annotations

from .http import PATH, ROUTING_DOCUMENT, RoutingEndpoint, flatten
from .rules import SHIPPED_RULES, load_routing, parse_rules
from .settings import RoutingSettings

__all__ = [
    "PATH",
    "ROUTING_DOCUMENT",
    "SHIPPED_RULES",
    "RoutingEndpoint",
    "RoutingSettings",
    "flatten",
    "load_routing",
    "parse_rules",
]
