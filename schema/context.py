"""What the schema needs from the request context; the gateway builds the concrete one."""

from __future__ import annotations

from typing import Protocol

import strawberry

from resolvers import Loaders

__all__ = ["Context", "Info"]


class Context(Protocol):
    @property
    def loaders(self) -> Loaders: ...

    async def ready(self) -> None:
        """Awaited by every root field before it returns customer data: whatever the gateway
        needs to decide what the caller may see has arrived by then."""


Info = strawberry.Info[Context, None]
