"""One sandbox over real sockets for the whole sandbox suite; tests that change its state
(faults, live contacts) restore it or use their own instance."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sources.sandbox import running

from .support import ANCHOR, CUSTOMERS


@pytest.fixture(scope="session")
def base_url() -> Iterator[str]:
    with running(seed=7, customers=CUSTOMERS, anchor=ANCHOR) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10) as http:
        yield http


@pytest.fixture(scope="session")
def sample(base_url: str) -> list[dict[str, Any]]:
    customers: list[dict[str, Any]] = httpx.get(f"{base_url}/_sandbox/sample?n=200").json()[
        "customers"
    ]
    return customers
