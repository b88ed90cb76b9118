"""What errors say to the client: typed errors keep their message and code; anything unexpected
is "internal error" plus the request id, never its text; names from the client are escaped."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from graphql import GraphQLError, parse
from strawberry.utils.logging import StrawberryLogger

from gateway.execution import select as executor
from gateway.observability.audit import safe_operation_name
from gateway.observability.errors import format_error, formatting_errors, quiet_strawberry_logger
from resolvers import BadUserInput
from schema import build_schema
from sources import SourceUnavailable


def located(original: Exception | None, message: str = "boom") -> GraphQLError:
    return GraphQLError(message, path=["customer", "accounts"], original_error=original)


def test_unexpected_exceptions_are_masked_with_the_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = RuntimeError("connect to db01.internal:5432 failed, password=hunter2")
    with caplog.at_level(logging.ERROR, logger="switchboard.errors"):
        shown = format_error(located(secret, str(secret)), "req-9")
    assert shown["message"] == "internal error"
    assert shown["extensions"] == {"code": "INTERNAL", "requestId": "req-9"}
    assert "db01" not in str(shown) and "hunter2" not in str(shown)
    assert "req-9" in caplog.text and caplog.records[0].exc_info  # the trace goes to the log


def test_typed_errors_keep_message_code_and_source() -> None:
    shown = format_error(located(SourceUnavailable("core", "core is unreachable")), "r")
    assert shown["message"] == "core is unreachable"
    assert shown["extensions"] == {"code": "SOURCE_UNAVAILABLE", "source": "core"}
    assert shown["path"] == ["customer", "accounts"]
    bad = format_error(located(BadUserInput("malformed phone number")), "r")
    assert bad["extensions"] == {"code": "BAD_USER_INPUT"}


def test_syntax_and_validation_errors_stay_readable_and_coded() -> None:
    syntax = format_error(GraphQLError("Syntax Error: Expected Name, found <EOF>."), "r")
    assert syntax["extensions"] == {"code": "GRAPHQL_PARSE_FAILED"}
    invalid = format_error(GraphQLError("Cannot query field 'x' on type '…'."), "r")
    assert invalid["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert invalid["message"].startswith("Cannot query field 'x'")


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("ScreenPop", "ScreenPop"),
        ("a\nforged audit line", "a\ufffdforged audit line"),
        (None, None),
    ],
)
def test_client_names_are_escaped_before_they_reach_logs(
    name: str | None, safe: str | None
) -> None:
    assert safe_operation_name(name) == safe
    assert len(safe_operation_name("x" * 1000) or "") == 128


def test_strawberry_logs_only_what_format_error_does_not(caplog: pytest.LogCaptureFixture) -> None:
    """Typed errors are the client's business (a code, no log); an unexpected one is logged once:
    by `format_error` with the request id inside a request, by strawberry outside one."""
    quiet_strawberry_logger()
    with caplog.at_level(logging.ERROR, logger="strawberry.execution"):
        StrawberryLogger.error(located(SourceUnavailable("core", "core is unreachable")))
        StrawberryLogger.error(located(BadUserInput("malformed phone number")))
        StrawberryLogger.error(located(None))
        with formatting_errors():
            StrawberryLogger.error(located(RuntimeError("reported by format_error")))
        assert caplog.records == []
        StrawberryLogger.error(located(RuntimeError("in an extension"), "outside a request"))
    assert [r.getMessage() for r in caplog.records] == ["outside a request"]


def test_an_unexpected_failure_of_the_root_field_precheck_is_logged_without_values(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = "003SB0000000000001"

    def broken(*args: object) -> None:
        raise RuntimeError(f"customer {customer} not collected")

    monkeypatch.setattr(executor, "collect_fields", broken)
    schema = build_schema()._schema
    operation = parse(f'{{ customer(id: "{customer}") {{ id }} }}').definitions[0]
    context = SimpleNamespace(schema=schema, operation=operation, fragments={}, variable_values={})
    with caplog.at_level(logging.ERROR, logger="switchboard.execution"):
        assert executor._precheck(context) is None  # type: ignore[arg-type]
    assert len(caplog.records) == 1
    assert "RuntimeError" in caplog.text and "003SB" not in caplog.text
