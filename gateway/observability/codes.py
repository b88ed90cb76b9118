"""Every client-facing `extensions.code`, in one place: the name a client may branch on and what
it means. The README's Errors list is checked against `CODES` (tests/gateway/test_codes.py), so a
code cannot be emitted without being documented.

The gateway's own modules use the constants below. `sources` and `resolvers` sit below the gateway
(imports go gateway -> schema -> resolvers -> sources) and keep their codes on their exception
classes (`SourceError.code`, `ResolverError.code`); they are listed here too, and a test checks
that every concrete class's code is registered.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

__all__ = [
    "ALIAS_LIMIT",
    "AUDIT_UNAVAILABLE",
    "BAD_REQUEST",
    "CODES",
    "COST_LIMIT",
    "DATA_BUDGET_EXCEEDED",
    "DEPTH_LIMIT",
    "DIRECTIVE_LIMIT",
    "DOCUMENT_TOO_LARGE",
    "EVENTS_DROPPED",
    "FIELD_REPEAT_LIMIT",
    "FORBIDDEN",
    "FORBIDDEN_FIELD",
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "IDEMPOTENCY_KEY_REUSED",
    "INTERNAL",
    "INTROSPECTION_DEPTH_LIMIT",
    "INVALID_DISPOSITION_CODE",
    "LIST_LIMIT",
    "LOOKUP_LIMIT",
    "METHOD_NOT_ALLOWED",
    "NOT_FOUND",
    "PAYLOAD_TOO_LARGE",
    "PERSISTED_QUERY_NOT_FOUND",
    "RATE_LIMITED",
    "REQUEST_TIMEOUT",
    "ROOT_FIELD_LIMIT",
    "SENSITIVE_DATA_IN_NOTE",
    "SUBSCRIPTION_LIMIT",
    "TOKEN_EXPIRED",
    "UNAUTHENTICATED",
    "UNSUPPORTED_MEDIA_TYPE",
    "code_for_status",
]

# HTTP-level refusals: the whole request is answered with a non-200 status.
UNAUTHENTICATED: Final = "UNAUTHENTICATED"
RATE_LIMITED: Final = "RATE_LIMITED"
UNSUPPORTED_MEDIA_TYPE: Final = "UNSUPPORTED_MEDIA_TYPE"
BAD_REQUEST: Final = "BAD_REQUEST"
METHOD_NOT_ALLOWED: Final = "METHOD_NOT_ALLOWED"
PAYLOAD_TOO_LARGE: Final = "PAYLOAD_TOO_LARGE"
INTERNAL: Final = "INTERNAL"
REQUEST_TIMEOUT: Final = "REQUEST_TIMEOUT"
# GraphQL-level errors (HTTP 200, in "errors").
GRAPHQL_PARSE_FAILED: Final = "GRAPHQL_PARSE_FAILED"
GRAPHQL_VALIDATION_FAILED: Final = "GRAPHQL_VALIDATION_FAILED"
PERSISTED_QUERY_NOT_FOUND: Final = "PERSISTED_QUERY_NOT_FOUND"
FORBIDDEN_FIELD: Final = "FORBIDDEN_FIELD"
FORBIDDEN: Final = "FORBIDDEN"
NOT_FOUND: Final = "NOT_FOUND"
DEPTH_LIMIT: Final = "DEPTH_LIMIT"
ALIAS_LIMIT: Final = "ALIAS_LIMIT"
ROOT_FIELD_LIMIT: Final = "ROOT_FIELD_LIMIT"
DIRECTIVE_LIMIT: Final = "DIRECTIVE_LIMIT"
FIELD_REPEAT_LIMIT: Final = "FIELD_REPEAT_LIMIT"
LIST_LIMIT: Final = "LIST_LIMIT"
COST_LIMIT: Final = "COST_LIMIT"
DOCUMENT_TOO_LARGE: Final = "DOCUMENT_TOO_LARGE"
INTROSPECTION_DEPTH_LIMIT: Final = "INTROSPECTION_DEPTH_LIMIT"
DATA_BUDGET_EXCEEDED: Final = "DATA_BUDGET_EXCEEDED"
LOOKUP_LIMIT: Final = "LOOKUP_LIMIT"
AUDIT_UNAVAILABLE: Final = "AUDIT_UNAVAILABLE"
# subscriptions (screenPops), in the frame that ends one
TOKEN_EXPIRED: Final = "TOKEN_EXPIRED"  # noqa: S105 (a code, not a secret)
EVENTS_DROPPED: Final = "EVENTS_DROPPED"
SUBSCRIPTION_LIMIT: Final = "SUBSCRIPTION_LIMIT"
# write-back mutations (issue #15)
IDEMPOTENCY_KEY_REUSED: Final = "IDEMPOTENCY_KEY_REUSED"
SENSITIVE_DATA_IN_NOTE: Final = "SENSITIVE_DATA_IN_NOTE"
INVALID_DISPOSITION_CODE: Final = "INVALID_DISPOSITION_CODE"

CODES: Final = MappingProxyType(
    {
        # gateway: refusals before any GraphQL work (non-200)
        UNAUTHENTICATED: "401: no bearer token, or one that is invalid, expired or untrusted; "
        "on /webhooks/*: a bad, missing or stale signature",
        RATE_LIMITED: "429: the caller is over its rate limit (Retry-After); or, with "
        "extensions.source, a back-end system throttled the gateway",
        UNSUPPORTED_MEDIA_TYPE: "415: a POST that is not application/json",
        BAD_REQUEST: "400: the body is not a GraphQL request (bad JSON, no query, a batch); "
        "406: /graphql/stream asked for something other than text/event-stream",
        METHOD_NOT_ALLOWED: "405: only POST (and GET for the GraphiQL page) are served",
        PAYLOAD_TOO_LARGE: "413: the body exceeds [server] max_body_bytes "
        "([webhooks.<system>] max_body_bytes on /webhooks/*)",
        REQUEST_TIMEOUT: "408: the request body did not arrive within the request's deadline",
        INTERNAL: "an unexpected failure; the message is 'internal error' plus requestId",
        # gateway: the operation
        GRAPHQL_PARSE_FAILED: "the document does not parse (or has too many tokens)",
        GRAPHQL_VALIDATION_FAILED: "the document or its variables do not fit the schema",
        PERSISTED_QUERY_NOT_FOUND: "this token may run registered operations only",
        DOCUMENT_TOO_LARGE: "the document is longer than [limits] max_document_bytes",
        DEPTH_LIMIT: "the selection is nested too deep ([limits] max_depth)",
        INTROSPECTION_DEPTH_LIMIT: "an introspection query nested deeper than "
        "[limits] max_introspection_depth",
        ALIAS_LIMIT: "too many aliases ([limits] max_aliases)",
        ROOT_FIELD_LIMIT: "too many root fields ([limits] max_root_fields)",
        DIRECTIVE_LIMIT: "too many directives ([limits] max_directives)",
        FIELD_REPEAT_LIMIT: "the same field repeated in one selection ([limits] max_repeats)",
        LIST_LIMIT: "a list argument is too long (first, ids)",
        COST_LIMIT: "the estimated cost is too high ([limits] max_cost)",
        FORBIDDEN_FIELD: "the policy denies this sensitive field to the caller's roles",
        FORBIDDEN: "the token has no role the policy knows: nothing but __typename is read; "
        "or screenPops for a token whose issuer is not the workforce's; or a write the "
        "caller may not make (ivr, developer, another agent's contact or customer)",
        DATA_BUDGET_EXCEEDED: "a sensitive field past the caller's data budget",
        LOOKUP_LIMIT: "too many lookups in the operation or the window",
        AUDIT_UNAVAILABLE: "503: the audit trail cannot keep up; nothing was read",
        TOKEN_EXPIRED: "screenPops: the token expired; the socket closes with 4403 (an SSE "
        "stream ends with complete)",
        EVENTS_DROPPED: "screenPops: the subscriber fell behind; subscribe again after "
        "extensions.resumeFrom",
        SUBSCRIPTION_LIMIT: "429 on /graphql/stream, or the error frame of a subscribe on the "
        "socket: the caller already has [events] max_streams_per_subject subscriptions open "
        "(or the socket its 5)",
        # write-back mutations
        IDEMPOTENCY_KEY_REUSED: "this idempotency key was used for another write: a new "
        "write needs a new key",
        SENSITIVE_DATA_IN_NOTE: "a note (or a case subject) holds what looks like a card "
        "number or a social security number; nothing was written",
        INVALID_DISPOSITION_CODE: "the disposition code is not in [writes] disposition_codes",
        # resolvers
        "BAD_USER_INPUT": "an argument can never match (malformed id, phone, limit)",
        NOT_FOUND: "a well-formed id the system of record does not know (404: no such path)",
        # sources (with extensions.source)
        "SOURCE_UNAVAILABLE": "the system refused, dropped the connection or answered 5xx",
        "SOURCE_TIMEOUT": "the system did not answer within the deadline",
        "SOURCE_BAD_RESPONSE": "the system answered garbage or records nobody asked for",
        "CIRCUIT_OPEN": "the system kept failing; not called for a few seconds",
        "SOURCE_OVERLOADED": "too many calls already waiting on the system",
        "WRITE_REJECTED": "the CRM refused a write for good (its reason is the write's `code`)",
    }
)
"""Code -> short meaning."""

_BY_STATUS: Final = {
    400: BAD_REQUEST,
    401: UNAUTHENTICATED,
    404: NOT_FOUND,
    405: METHOD_NOT_ALLOWED,
    408: REQUEST_TIMEOUT,
    413: PAYLOAD_TOO_LARGE,
    415: UNSUPPORTED_MEDIA_TYPE,
    429: RATE_LIMITED,
}


def code_for_status(status: int) -> str:
    """The code of an HTTP-level refusal raised by a library (Starlette, strawberry)."""
    if status >= 500:
        return INTERNAL
    return _BY_STATUS.get(status, BAD_REQUEST)
