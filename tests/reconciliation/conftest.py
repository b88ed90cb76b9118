"""The integration suite's real-socket fixtures (a sandbox and a gateway on 127.0.0.1), reused
for reconciliation: seed 7, 2,000 customers, whose first eight carry the documented drift; and
the differential suite's pair of gateways (compiled and standard execution) on one sandbox."""

from __future__ import annotations

from tests.differential.conftest import pair
from tests.integration.conftest import gateway, sample, sandbox_url

__all__ = ["gateway", "pair", "sample", "sandbox_url"]
