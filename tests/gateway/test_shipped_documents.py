"""The trusted documents we ship (docs/trusted-documents.json): valid against the schema, and
every one compiles into a plan for every role that may run only registered operations, for
every value of its @include/@skip variables: their fallback rate is 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import TrustedDocumentSettings
from gateway.execution.select import PlanCache
from gateway.limits.trusted import TrustedDocuments
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from gateway.observability.metrics import Metrics
from schema import build_schema

MANIFEST = Path(__file__).resolve().parents[2] / "docs" / "trusted-documents.json"
SCHEMA = build_schema()._schema


def test_the_shipped_manifest_loads() -> None:
    documents = TrustedDocuments.load(MANIFEST, SCHEMA)
    assert len(documents.documents) >= 5


@pytest.mark.parametrize("role", [*TrustedDocumentSettings().roles, "agent", "supervisor"])
def test_every_shipped_document_compiles_without_fallback(role: str) -> None:
    documents = TrustedDocuments.load(MANIFEST, SCHEMA)
    metrics = Metrics()
    cache = PlanCache(Policy.load(), Masker(b"test"), metrics)
    pairs = [(d.text, d.document) for d in documents.documents.values()]
    assert cache.warm(SCHEMA, pairs, [frozenset({role})]) == []
    # one plan per document, two for the one with an @include variable
    assert len(cache) == len(pairs) + 1
