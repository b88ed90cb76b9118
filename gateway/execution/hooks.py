"""Strawberry's extension runner, with each hook's context-manager factory made once per
extension class instead of once per request.

For every operation, strawberry's `SchemaExtensionsRunner` builds one context manager per phase
(operation, parsing, validation, execution), and each of those looks up every extension's hook,
asks `inspect` what kind of function it is, binds it, and decorates it with
`contextlib.(async)contextmanager`, whose `functools.wraps` copies the function's attributes:
about a fifth of a cached operation's time in the view, all of it the same answer each time.

`install_hook_runner` keeps everything else as it is: the same hooks, called with the same
extension instance, in the same order, through the same `contextlib` context managers and exit
stacks (so an exception in a hook, or under it, travels exactly as before). Only the factory is
kept: `asynccontextmanager(hook)(extension)` is what `asynccontextmanager(bound hook)()` was.
A hook strawberry wraps some other way (a plain function or coroutine) is left to strawberry.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar, Literal
from weakref import WeakKeyDictionary

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    ExtensionContextManagerBase,
    OperationContextManager,
    ParsingContextManager,
    ValidationContextManager,
    WrappedHook,
)
from strawberry.extensions.runner import SchemaExtensionsRunner

__all__ = ["HookRunner", "install_hook_runner"]

_Factory = tuple[Callable[..., Any], bool] | None
"""(the decorated hook, is it async); None: no hook of this phase; absent: strawberry's way."""


class _KeptFactories(ExtensionContextManagerBase):
    _factories: ClassVar[WeakKeyDictionary[type[SchemaExtension], _Factory]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._factories = WeakKeyDictionary()  # one per phase

    def get_hook(self, extension: SchemaExtension) -> WrappedHook | None:
        kind = type(extension)
        try:
            factory = self._factories[kind]
        except KeyError:
            made = _factory(getattr(kind, self.HOOK_NAME), self.default_hook)
            if made == "strawberry's":  # not a generator: strawberry wraps it, per request
                return super().get_hook(extension)
            factory = self._factories[kind] = made
        if factory is None:
            return None
        decorated, is_async = factory
        hook = partial(decorated, extension)
        return WrappedHook(extension=extension, hook=hook, is_async=is_async)


def _factory(hook: Any, default: Any) -> _Factory | Literal["strawberry's"]:
    """What `ExtensionContextManagerBase.get_hook` decides for this class's hook, once."""
    if hook is None or hook is default:
        return None
    if inspect.isgeneratorfunction(hook):
        return contextlib.contextmanager(hook), False
    if inspect.isasyncgenfunction(hook):
        return contextlib.asynccontextmanager(hook), True
    return "strawberry's"


class _Operation(_KeptFactories, OperationContextManager):
    pass


class _Parsing(_KeptFactories, ParsingContextManager):
    pass


class _Validation(_KeptFactories, ValidationContextManager):
    pass


class _Executing(_KeptFactories, ExecutingContextManager):
    pass


class HookRunner(SchemaExtensionsRunner):
    """`SchemaExtensionsRunner` with the four phases' factories kept (stream results, and
    the extensions' results, are strawberry's own)."""

    def operation(self) -> OperationContextManager:
        return _Operation(self.extensions)

    def parsing(self) -> ParsingContextManager:
        return _Parsing(self.extensions)

    def validation(self) -> ValidationContextManager:
        return _Validation(self.extensions)

    def executing(self) -> ExecutingContextManager:
        return _Executing(self.extensions)


def install_hook_runner(schema: strawberry.Schema) -> None:
    """Every operation of `schema` (queries, mutations, subscriptions) runs its extensions
    through `HookRunner`."""
    # the schema's own factory method, replaced on this instance: `build_schema` makes a plain
    # strawberry.Schema, and `HookRunner(execution_context, extensions)` is its signature
    schema.create_extensions_runner = HookRunner  # type: ignore[method-assign]
