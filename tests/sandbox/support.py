"""Settings shared by the sandbox tests and their fixtures."""

from __future__ import annotations

from datetime import UTC, datetime

ANCHOR = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
CUSTOMERS = 2_000
