"""The schema extension that enforces `limits` and `trusted` on every operation, parses through
a byte-bounded cache, and keeps the schema from leaking to callers who may not introspect it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

from graphql import DocumentNode, GraphQLError, Lexer, Source, Token, TokenKind
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from gateway.limits.cost import CostCache
from gateway.limits.shape import (
    LimitSettings,
    copy_error,
    document_too_large,
    measure_cached,
    parse_cached,
    validate_cached,
)
from gateway.limits.trusted import TrustedDocuments

__all__ = ["Rails", "conceal", "guardrails", "written_names"]

_DID_YOU_MEAN = re.compile(r"\s*Did you mean[^?]*\?")
_QUOTED = re.compile(r"'([^']+)'|\"([^\"]+)\"")
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
_STRINGS = (TokenKind.STRING, TokenKind.BLOCK_STRING)


def written_names(text: str) -> frozenset[str]:
    """The names among the document's tokens (and the words of its string values, which an
    error may quote back). Comments are not tokens: `# Customer ID!` must not unlock
    'Customer'."""
    names: set[str] = set()
    lexer = Lexer(Source(text))
    try:
        token = lexer.advance()  # comments are skipped by the lexer
        while token.kind != TokenKind.EOF:
            if token.kind == TokenKind.NAME and token.value is not None:
                names.add(token.value)
            elif token.kind in _STRINGS and token.value is not None:
                names.update(_NAME.findall(token.value))  # the caller's own values
            token = lexer.advance()
    except GraphQLError:
        pass  # a syntax error: the names before it
    finally:
        # the lexer links its tokens both ways (prev <-> next): one reference cycle per token
        # pair, left for the cycle collector; forward links only are freed as soon as read
        unlinked: Token | None = lexer.token
        while unlinked is not None:
            unlinked.prev, unlinked = None, unlinked.prev
    return frozenset(names)


def conceal(message: str, written: frozenset[str]) -> str:
    """Drop "Did you mean" and any quoted text naming something the caller did not write: with
    introspection off, errors must not teach the schema (no type, field, argument, enum value
    or input field the request's tokens did not already contain)."""

    def hide(match: re.Match[str]) -> str:
        quoted = match.group(1) or match.group(2)
        return match.group(0) if set(_NAME.findall(quoted)) <= written else "'…'"

    return _QUOTED.sub(hide, without_suggestions(message))


def without_suggestions(message: str) -> str:
    return _DID_YOU_MEAN.sub("", message)


class Rails:
    """The guardrails' rules, as plain steps on strawberry's `ExecutionContext`: the extension
    below calls them from its hooks, and the direct road (gateway/execution/direct.py) calls
    the very same steps, in the same order, without strawberry's runner."""

    def __init__(
        self,
        limits: LimitSettings,
        trusted: TrustedDocuments | None,
        trusted_roles: frozenset[str],
        suggestions: bool,
    ) -> None:
        self.limits = limits
        self.trusted = trusted
        self.trusted_roles = trusted_roles
        self.suggestions = suggestions
        self.costs = CostCache()

    def enter(self, ec: ExecutionContext) -> bool:
        """Before anything is parsed: a trusted document by its hash (True: registered), the
        callers held to registered operations, the document's size. Raises the refusal."""
        limits, trusted = self.limits, self.trusted
        ec.parse_options["max_tokens"] = limits.max_tokens
        context: Any = ec.context
        roles = context.principal.roles if context is not None else frozenset()
        registered = trusted.find(ec.query, ec.operation_extensions) if trusted else None
        if registered is not None:
            ec.query = registered.text
            ec.graphql_document = registered.document
            return True
        if roles & self.trusted_roles:
            # before anything is parsed: these callers run registered operations only
            raise GraphQLError(
                "only registered operations may be run with this token",
                extensions={"code": "PERSISTED_QUERY_NOT_FOUND"},
            )
        if ec.query and (too_large := document_too_large(ec.query, limits)):
            raise too_large
        return False

    def parse(self, ec: ExecutionContext) -> None:
        """Through the byte-bounded cache (strawberry's ParserCache counts entries)."""
        if ec.graphql_document is None and ec.query:
            ec.graphql_document = parse_cached(ec.query, ec.parse_options)

    def check(self, ec: ExecutionContext, registered: bool) -> None:
        """Shape, validation (cached) and cost: `pre_execution_errors` set, so strawberry does
        not validate again. A trusted document's shape and validation were checked at
        start-up; its cost was not (it depends on the variables)."""
        document = ec.graphql_document
        if ec.pre_execution_errors is None and document is not None:
            checked = self._cost(ec, document) if registered else self._check(ec, document)
            ec.pre_execution_errors = checked

    def _check(self, ec: ExecutionContext, document: DocumentNode) -> list[GraphQLError]:
        text = ec.query or ""
        violation = measure_cached(text, document).violation(self.limits)
        if violation is not None:
            return [violation]
        context: Any = ec.context
        may_introspect = context is not None and context.may_introspect  # fail closed
        rule_set = "open" if may_introspect else "closed"
        schema = ec.schema._schema
        errors = validate_cached(
            schema, text, document, rule_set, hide_suggestions=not self.suggestions
        )
        return errors or self._cost(ec, document)

    def _cost(self, ec: ExecutionContext, document: DocumentNode) -> list[GraphQLError]:
        schema = ec.schema._schema
        refused = self.costs.refusal(
            schema, ec.query or "", document, ec.operation_name, ec.variables, self.limits
        )
        return [] if refused is None else [refused]

    def conceal(self, ec: ExecutionContext) -> None:
        """After the operation: errors that would teach the schema rewritten. Replace, never
        edit: the errors may be shared (copy-on-write)."""
        context: Any = ec.context
        hide_names = context is None or not context.may_introspect
        if self.suggestions and not hide_names:
            return
        result = ec.result
        if not ec.pre_execution_errors and (result is None or not result.errors):
            return  # nothing to rewrite: the document is not lexed again (most requests)
        lexed: list[frozenset[str]] = []

        def written() -> frozenset[str]:
            """Lexed once, and only for an error of graphql-core's own (a resolver's
            errors are not rewritten: most errors under a failing system)."""
            if not lexed:
                lexed.append(written_names(ec.query or ""))
            return lexed[0]

        def rewrite(errors: list[GraphQLError]) -> list[GraphQLError]:
            return [
                error
                if error.original_error is not None
                else copy_error(
                    error,
                    conceal(error.message, written())
                    if hide_names
                    else without_suggestions(error.message),
                )
                for error in errors
            ]

        if ec.pre_execution_errors:
            ec.pre_execution_errors = rewrite(ec.pre_execution_errors)
        if result is not None and result.errors:
            result.errors = rewrite(list(result.errors))


def guardrails(
    limits: LimitSettings,
    trusted: TrustedDocuments | None,
    trusted_roles: frozenset[str],
    *,
    suggestions: bool = False,
) -> type[SchemaExtension]:
    """`suggestions`: "Did you mean ...?" in errors (the development profile only)."""
    rules = Rails(limits, trusted, trusted_roles, suggestions)

    class Guardrails(SchemaExtension):
        rails: ClassVar[Rails] = rules
        registered = False

        def on_operation(self) -> Iterator[None]:
            ec = self.execution_context
            self.registered = rules.enter(ec)
            yield
            rules.conceal(ec)

        def on_parse(self) -> Iterator[None]:
            rules.parse(self.execution_context)
            yield

        def on_validate(self) -> Iterator[None]:
            rules.check(self.execution_context, self.registered)
            yield

    return Guardrails
