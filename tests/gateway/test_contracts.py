"""One test per place the gateway hooks into strawberry's or graphql-core's internals (REVIEW D12).

graphql-core is pinned exactly (pyproject.toml) because the compiled executor relies on members
its documentation marks private; strawberry is pinned too. When an upgrade breaks a hook, the
test named after it fails here, rather than a behaviour somewhere downstream.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import graphql
import pytest
import strawberry
from graphql import (
    AbortController,
    ExecutionResult,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    execute,
    parse,
)
from graphql.execution import Executor
from graphql.execution.collect_fields import (
    FieldDetails,
    FragmentDetails,
    collect_fields,
    collect_subfields,
)
from graphql.execution.values import VariableValues, get_argument_values
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.utils.logging import StrawberryLogger
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.execution.select import PlanCache, executor_class
from gateway.http.serving import HeaderTimeoutProtocol
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from gateway.observability.metrics import Metrics
from schema import build_schema

ROOT = Path(__file__).resolve().parents[2]
SCHEMA: GraphQLSchema = build_schema()._schema


def _parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_graphql_core_is_pinned_exactly_to_the_installed_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [d for d in project["dependencies"] if d.startswith("graphql-core")]
    assert pins == [f"graphql-core=={graphql.version}"]


def test_strawberry_schema_exposes_the_graphql_core_schema() -> None:
    """`schema._schema` (app.py, masking.py, guardrails.py): the graphql-core schema, with each
    type's and field's strawberry definition in its extensions (plans.py, masking.py)."""
    schema = build_schema()
    assert isinstance(schema._schema, GraphQLSchema)
    customer = schema._schema.type_map["Customer"]
    assert customer.extensions["strawberry-definition"].origin.__name__ == "Customer"
    field = customer.fields["fullName"]  # type: ignore[attr-defined]
    assert field.extensions["strawberry-definition"].python_name == "full_name"


def test_strawberry_skips_its_validation_when_an_extension_set_pre_execution_errors() -> None:
    """guardrails.py validates (cached, with its own rules) in `on_validate` and trusted
    documents are marked validated in `on_operation`; strawberry must then not validate again
    (strawberry/schema/schema.py `_run_validation`)."""

    class Validated(SchemaExtension):
        def on_validate(self) -> Any:
            self.execution_context.pre_execution_errors = []
            yield

    @strawberry.type
    class Query:
        greeting: str = "hello"

    invalid = "{ greeting nope }"
    plain = strawberry.Schema(query=Query)
    assert plain.execute_sync(invalid).errors  # strawberry validates by default
    hooked = strawberry.Schema(query=Query, extensions=[Validated])
    result = hooked.execute_sync(invalid, root_value=Query())
    assert result.errors is None and result.data == {"greeting": "hello"}


def test_strawberrys_executor_is_graphql_cores_with_the_overridden_method() -> None:
    """executor.py subclasses StrawberryGraphQLCoreExecutionContext and overrides
    `execute_operation(serially)`; strawberry passes `execution_context_class` through."""
    assert issubclass(StrawberryGraphQLCoreExecutionContext, Executor)
    assert _parameters(Executor.execute_operation) == ["self", "serially"]
    compiled = executor_class(PlanCache(Policy.load(), Masker(b"t"), Metrics()), compiled=True)
    assert _parameters(compiled.execute_operation) == ["self", "serially"]
    schema = build_schema(execution_context_class=compiled)
    assert schema.execution_context_class is compiled


def test_build_response_reads_the_collected_errors_list() -> None:
    """The compiled executor appends its errors to `collected_errors.errors` and answers with
    `build_response(data)` (both `:meta private:` in graphql-core)."""
    executor = Executor.build(SCHEMA, parse("{ __typename }"))
    assert isinstance(executor, Executor)
    error = GraphQLError("placed by the plan", path=["customer"])
    executor.collected_errors.errors.extend([error, GraphQLError("second", path=["customer"])])
    response = executor.build_response({"customer": None})
    assert isinstance(response, ExecutionResult)
    assert response.data == {"customer": None}
    assert [e.message for e in response.errors or []] == ["placed by the plan", "second"]
    assert _parameters(Executor.finish) == ["self", "result"]
    assert _parameters(Executor.abort_error) == ["self"]


def test_an_aborted_operation_is_rejected_by_the_compiled_executor_too() -> None:
    """graphql-core's `execute_operation` rejects an operation whose abort signal fired; the
    override mirrors it (REVIEW §5 item 12)."""
    compiled = executor_class(PlanCache(Policy.load(), Masker(b"t"), Metrics()), compiled=True)
    controller = AbortController()
    controller.abort(RuntimeError("the client left"))
    context = SimpleNamespace(principal=SimpleNamespace(roles=frozenset({"agent"})))
    document = parse('{ customer(id: "003SB0000000000001") { id } }')
    with pytest.raises(RuntimeError, match="the client left"):
        execute(
            SCHEMA,
            document,
            context_value=context,
            executor_class=compiled,
            abort_signal=controller.signal,
        )


def test_fragment_details_and_field_collection_signatures() -> None:
    """plans.py and executor.py build `FragmentDetails(definition, None)` by hand and call
    `collect_fields`/`collect_subfields`, reading `grouped_field_set`, `new_defer_usages` and
    each `FieldDetails`' node, defer usage and fragment variables."""
    document = parse("query { customer(id: 1) { ...F } } fragment F on Customer { id }")
    operation, fragment = document.definitions
    assert isinstance(operation, OperationDefinitionNode)
    assert isinstance(fragment, FragmentDefinitionNode)
    fragments = {"F": FragmentDetails(fragment, None)}
    variables = VariableValues({}, {})
    assert _parameters(collect_fields)[:5] == [
        "schema",
        "fragments",
        "variable_values",
        "runtime_type",
        "operation",
    ]
    assert SCHEMA.query_type is not None
    root = collect_fields(SCHEMA, fragments, variables, SCHEMA.query_type, operation)
    assert list(root.grouped_field_set) == ["customer"] and not root.new_defer_usages
    details = root.grouped_field_set["customer"]
    assert isinstance(details[0], FieldDetails)
    assert details[0].defer_usage is None and details[0].fragment_variable_values is None
    assert _parameters(collect_subfields)[:6] == [
        "schema",
        "fragments",
        "variable_values",
        "operation",
        "return_type",
        "field_details_list",
    ]
    customer = SCHEMA.type_map["Customer"]
    sub = collect_subfields(SCHEMA, fragments, variables, operation, customer, details)  # type: ignore[arg-type]
    assert list(sub.grouped_field_set) == ["id"]
    field_def = SCHEMA.query_type.fields["customer"]
    assert get_argument_values(field_def, details[0].node, variables) == {"id": "1"}
    assert variables.coerced == {}


def test_parser_cache_extension_takes_a_maxsize() -> None:
    assert "maxsize" in _parameters(ParserCache)


def test_strawberrys_logger_logs_the_graphql_error_itself() -> None:
    """errors.py filters `strawberry.execution` records by the GraphQLError they carry."""
    seen: list[logging.LogRecord] = []

    class Keep(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            seen.append(record)
            return False

    keep = Keep()
    StrawberryLogger.logger.addFilter(keep)
    try:
        error = GraphQLError("boom", original_error=RuntimeError("x"))
        StrawberryLogger.error(error)
    finally:
        StrawberryLogger.logger.removeFilter(keep)
    assert StrawberryLogger.logger.name == "strawberry.execution"
    assert [r.msg for r in seen] == [error]


def test_the_view_hooks_of_strawberrys_asgi_app() -> None:
    """app.py overrides `__call__`, `get_context`, `process_result`, `render_graphql_ide`, and
    asks `should_render_graphql_ide(request_adapter_class(request))`."""
    assert _parameters(GraphQL.__call__) == ["self", "scope", "receive", "send"]
    assert _parameters(GraphQL.get_context) == ["self", "request", "response"]
    assert _parameters(GraphQL.process_result) == ["self", "request", "result"]
    assert _parameters(GraphQL.should_render_graphql_ide) == ["self", "request"]
    assert GraphQL.request_adapter_class is not None


def _source_digest(function: Any) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


def test_the_steps_the_thin_path_repeats_from_strawberrys_view() -> None:
    """gateway/http/fastpath.py serves a JSON POST by calling the view's own steps in the
    order `AsyncBaseHTTPView.run` calls them. It names these members; and when strawberry's
    request walk changes (a new check, a new step), the digests below change with it, so the
    thin path is reviewed against the new walk before the pin moves."""
    from strawberry.http.async_base_view import AsyncBaseHTTPView

    assert _parameters(GraphQL._get_stream_transport_from_headers) == ["self", "headers"]
    assert _parameters(GraphQL._handle_errors) == ["self", "errors", "response_data"]
    assert _parameters(GraphQL.get_sub_response) == ["self", "request"]
    assert _parameters(GraphQL.create_response) == [
        "self",
        "response_data",
        "sub_response",
    ]
    assert _parameters(GraphQL.decode_json) == ["self", "data"]
    walk = {
        f.__qualname__: _source_digest(f)
        for f in (
            AsyncBaseHTTPView.run,
            AsyncBaseHTTPView.execute_operation,
            AsyncBaseHTTPView.execute_single,
            AsyncBaseHTTPView.parse_http_body,
        )
    }
    assert walk == {
        "AsyncBaseHTTPView.run": "b278e647b7eee2e8",
        "AsyncBaseHTTPView.execute_operation": "7ee9febac728183f",
        "AsyncBaseHTTPView.execute_single": "bc864c615b4dc12d",
        "AsyncBaseHTTPView.parse_http_body": "6c7c673a13880c7f",
    }


def test_the_extension_hooks_the_hook_runner_keeps() -> None:
    """gateway/execution/hooks.py keeps, per extension class, what
    `ExtensionContextManagerBase.get_hook` decides per request; it relies on that method's
    decision (digest), `HOOK_NAME`, `default_hook`, `WrappedHook`'s fields and the schema's
    `create_extensions_runner` factory."""
    from strawberry.extensions.context import ExtensionContextManagerBase, WrappedHook
    from strawberry.extensions.runner import SchemaExtensionsRunner

    assert _source_digest(ExtensionContextManagerBase.get_hook) == "2f0897ead1abdc4a"
    assert WrappedHook._fields == ("extension", "hook", "is_async")
    assert _parameters(strawberry.Schema.create_extensions_runner) == [
        "self",
        "execution_context",
        "extensions",
    ]
    for phase in ("operation", "parsing", "validation", "executing"):
        assert callable(getattr(SchemaExtensionsRunner, phase))


def test_uvicorns_httptools_protocol_callbacks() -> None:
    """serving.py's header timer overrides these callbacks and reads `cycle`, `loop` and
    `transport`."""
    for name in (
        "connection_made",
        "data_received",
        "on_message_begin",
        "on_headers_complete",
        "connection_lost",
    ):
        assert name in vars(HttpToolsProtocol), name
    assert issubclass(HeaderTimeoutProtocol, HttpToolsProtocol)
    source = inspect.getsource(HttpToolsProtocol.__init__)
    assert "self.cycle" in source and "self.loop" in source
    assert "self.transport" in inspect.getsource(HttpToolsProtocol.connection_made)


def test_the_steps_the_direct_road_repeats_from_schema_execute() -> None:
    """gateway/execution/direct.py serves an operation with a cached plan by calling the
    steps `Schema.execute` calls, in its order: the execution context's fields, the executor's
    `build` (as graphql-core's `execute` calls it, with strawberry's arguments), the schema's
    `_process_errors`, `_coerce_error` and `PreExecutionError` for an exception, the runner's
    merge of the extensions' results. When strawberry's walk changes (a new phase, a new
    step), the digests change with it, so the road is reviewed against the new walk before
    the pin moves."""
    from graphql.execution.execute import UNEXPECTED_MULTIPLE_PAYLOADS  # type: ignore[attr-defined]
    from strawberry.extensions.runner import SchemaExtensionsRunner
    from strawberry.schema.schema import _coerce_error
    from strawberry.types import ExecutionContext
    from strawberry.types.execution import PreExecutionError

    fields = [f.name for f in ExecutionContext.__dataclass_fields__.values()]
    for name in (
        "query",
        "schema",
        "allowed_operations",
        "context",
        "variables",
        "root_value",
        "provided_operation_name",
        "graphql_document",
        "pre_execution_errors",
        "result",
        "extensions_results",
        "operation_extensions",
    ):
        assert name in fields, name
    assert _parameters(Executor.build)[:7] == [
        "schema",
        "document",
        "root_value",
        "context_value",
        "raw_variable_values",
        "operation_name",
        "field_resolver",
    ]
    assert {"middleware", "is_awaitable"} <= set(_parameters(Executor.build))
    assert _parameters(strawberry.Schema._process_errors) == [
        "self",
        "errors",
        "execution_context",
    ]
    error = ValueError("x")
    assert _coerce_error(error).original_error is error
    assert issubclass(PreExecutionError, strawberry.types.ExecutionResult)
    assert "multiple payloads" in UNEXPECTED_MULTIPLE_PAYLOADS
    walk = {
        f.__qualname__: _source_digest(f)
        for f in (
            strawberry.Schema.execute,
            strawberry.Schema._prepare_operation_async,
            strawberry.Schema._execute_operation,
            strawberry.Schema._handle_execution_result,
            strawberry.Schema.get_extensions,
            SchemaExtensionsRunner.get_extensions_results,
            graphql.execute,
            graphql.experimental_execute_incrementally,
        )
    }
    assert walk == {
        "Schema.execute": "a4b76c96d614f4d0",
        "Schema._prepare_operation_async": "0973d3b5a73f65fd",
        "Schema._execute_operation": "5d64cc27e74797f9",
        "Schema._handle_execution_result": "56893f850faa9f40",
        "Schema.get_extensions": "a61928b3ed2dcc8f",
        "SchemaExtensionsRunner.get_extensions_results": "bdc106aa3f99fc6b",
        "execute": "c388ee5e31557751",
        "experimental_execute_incrementally": "ac82362a51b2fc48",
    }
