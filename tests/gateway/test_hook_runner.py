"""The extension runner that keeps each hook's context-manager factory (gateway/execution/hooks.py):
the same hooks in the same order with the same exceptions as strawberry's own runner, and no
hook decorated again for each request."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension

from gateway.app import create_app
from gateway.config import build_config
from gateway.demo import demo_config
from gateway.execution.hooks import HookRunner, install_hook_runner
from tests.integration.test_thin_path import _view_of


def _schema(log: list[str], *, runner: bool) -> strawberry.Schema:
    class Sync(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            log.append("sync operation in")
            try:
                yield
            except Exception as exc:  # what strawberry's exit stack throws in, if anything
                log.append(f"sync operation saw {type(exc).__name__}")
                raise
            log.append(f"sync operation out {self.execution_context.result is not None}")

        def on_parse(self) -> Iterator[None]:
            log.append("sync parse in")
            yield
            log.append("sync parse out")

        def on_validate(self) -> Iterator[None]:
            log.append("sync validate in")
            yield
            log.append("sync validate out")

    class Async(SchemaExtension):
        async def on_operation(self) -> AsyncIterator[None]:
            log.append("async operation in")
            yield
            log.append("async operation out")

        async def on_execute(self) -> AsyncIterator[None]:
            log.append("async execute in")
            await asyncio.sleep(0)
            yield
            log.append("async execute out")

        def get_results(self) -> dict[str, Any]:
            return {"seen": len(log)}

    class Plain(SchemaExtension):
        async def on_validate(self) -> None:  # type: ignore[override]  # a coroutine: strawberry's way
            log.append("plain validate")

    @strawberry.type
    class Query:
        @strawberry.field
        def ok(self) -> int:
            log.append("resolve ok")
            return 1

        @strawberry.field
        def boom(self) -> int:
            log.append("resolve boom")
            raise ValueError("boom")

    schema = strawberry.Schema(Query, extensions=[Sync, Async, Plain])
    if runner:
        install_hook_runner(schema)
    return schema


@pytest.mark.parametrize(
    "query", ["{ ok }", "{ boom }", "{ ok boom }", "{ nope }", "{ ok", "subscription { x }"]
)
def test_the_same_hooks_in_the_same_order_as_strawberrys_runner(query: str) -> None:
    def run(runner: bool) -> tuple[list[str], Any]:
        log: list[str] = []
        result = asyncio.run(_schema(log, runner=runner).execute(query))
        errors = [e.message for e in result.errors or []]
        return log, (result.data, errors, result.extensions)

    ours, strawberrys = run(True), run(False)
    assert ours == strawberrys
    assert "sync operation in" in ours[0]


def test_a_hook_is_not_wrapped_again_for_each_request(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    for name in ("contextmanager", "asynccontextmanager"):
        original = getattr(contextlib, name)

        def counted(func: Any, original: Any = original) -> Any:
            made.append(func.__name__)
            return original(func)

        monkeypatch.setattr(contextlib, name, counted)
    schema = _schema([], runner=True)
    for _ in range(3):
        assert asyncio.run(schema.execute("{ ok }")).data == {"ok": 1}
    # five generator hooks, wrapped once each; the coroutine hook is strawberry's (per request)
    assert sorted(made) == sorted(
        ["on_operation", "on_parse", "on_validate", "on_operation", "on_execute"] + ["iterator"] * 3
    )


def test_the_compiled_gateway_runs_its_extensions_through_it() -> None:
    app = create_app(build_config(demo_config(0, 9), env={}))
    schema = _view_of(app).schema
    assert isinstance(schema, strawberry.Schema)
    assert schema.create_extensions_runner is HookRunner


def test_the_standard_gateway_keeps_strawberrys_runner() -> None:
    """What the differential suite compares the compiled gateway's answers with."""
    app = create_app(build_config(demo_config(0, 9, execution="standard"), env={}))
    schema = _view_of(app).schema
    assert isinstance(schema, strawberry.Schema)
    assert schema.create_extensions_runner.__func__ is strawberry.Schema.create_extensions_runner  # type: ignore[attr-defined]
