"""Trusted documents: operations registered by sha256 id in a manifest, the only ones the roles
marked trusted-documents-only (bots, IVR) may run. A registered operation arrives parsed and
validated (at start-up), so it skips both per request.

Manifest formats: Apollo's persisted-query manifest
`{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{"id", "body", ...}]}`
or Relay's `{"<id>": "<document>"}`. Every id must be the sha256 of its document.
A request names one with `extensions.persistedQuery.sha256Hash` (Apollo's protocol) or sends
the document itself (its hash must be registered).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from graphql import DocumentNode, GraphQLSchema, parse, validate

from gateway.limits.shape import rule_sets

__all__ = ["TrustedDocument", "TrustedDocuments", "TrustedDocumentsError"]


class TrustedDocumentsError(Exception):
    """The manifest cannot be used; the message says which entry and why."""


@dataclass(frozen=True, slots=True)
class TrustedDocument:
    id: str
    text: str
    document: DocumentNode


class TrustedDocuments:
    def __init__(self, documents: Mapping[str, TrustedDocument]) -> None:
        self.documents = dict(documents)

    @classmethod
    def load(cls, path: str | Path, schema: GraphQLSchema) -> TrustedDocuments:
        try:
            raw = orjson.loads(Path(path).read_bytes())
        except FileNotFoundError:
            raise TrustedDocumentsError(f"trusted documents manifest not found: {path}") from None
        except orjson.JSONDecodeError as exc:
            raise TrustedDocumentsError(f"manifest {path} is not JSON: {exc}") from None
        return cls.from_entries(_entries(raw, str(path)), schema)

    @classmethod
    def from_entries(cls, entries: Mapping[str, str], schema: GraphQLSchema) -> TrustedDocuments:
        documents = {}
        rules = rule_sets()["closed"]
        for given_id, text in entries.items():
            actual = sha256(text)
            if given_id.lower() != actual:
                raise TrustedDocumentsError(
                    f"manifest id {given_id} is not the sha256 of its document"
                )
            try:
                document = parse(text)
            except Exception as exc:
                raise TrustedDocumentsError(
                    f"manifest document {given_id} does not parse: {exc}"
                ) from None
            errors = validate(schema, document, rules)
            if errors:
                raise TrustedDocumentsError(
                    f"manifest document {given_id} is invalid: {errors[0].message}"
                )
            documents[actual] = TrustedDocument(actual, text, document)
        return cls(documents)

    def find(
        self, query: str | None, extensions: Mapping[str, Any] | None
    ) -> TrustedDocument | None:
        """The registered document a request names (by hash) or sends (by text), if any."""
        persisted = (extensions or {}).get("persistedQuery")
        if isinstance(persisted, Mapping):
            digest = persisted.get("sha256Hash")
            if isinstance(digest, str):
                return self.documents.get(digest.lower())
        if query is not None:
            return self.documents.get(sha256(query))
        return None


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _entries(raw: Any, where: str) -> dict[str, str]:
    if isinstance(raw, dict) and raw.get("format") == "apollo-persisted-query-manifest":
        operations = raw.get("operations")
        if not isinstance(operations, list):
            raise TrustedDocumentsError(f"{where}: 'operations' must be a list")
        out = {}
        for op in operations:
            if not (
                isinstance(op, dict)
                and isinstance(op.get("id"), str)
                and isinstance(op.get("body"), str)
            ):
                raise TrustedDocumentsError(f"{where}: every operation needs a string id and body")
            out[op["id"]] = op["body"]
        return out
    if isinstance(raw, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        return raw
    raise TrustedDocumentsError(f"{where}: neither an Apollo nor a Relay persisted-query manifest")
