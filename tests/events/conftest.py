"""The events suite runs under the PII canary (tests/support/canary.py): its sandboxes are
seeded with canary values, and every log line, audit line and metric is searched for them."""

from __future__ import annotations

from tests.support.canary import canary_check, canary_session

__all__ = ["canary_check", "canary_session"]
