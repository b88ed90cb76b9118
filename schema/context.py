"""What the schema needs from the request context; the gateway builds the concrete one."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Protocol

import strawberry

from resolvers import Loaders

if TYPE_CHECKING:
    from .journey_updates import Change
    from .mutation import WriteApi
    from .subscription import Pop

__all__ = ["Context", "Info"]


class Context(Protocol):
    @property
    def loaders(self) -> Loaders: ...

    @property
    def writes(self) -> WriteApi:
        """The caller's writes (gateway/writes/api.py)."""
        ...

    async def ready(self) -> None:
        """Awaited by every root field before it returns customer data: whatever the gateway
        needs to decide what the caller may see has arrived by then."""

    def screen_pops(self, after: str | None) -> AsyncGenerator[Pop, None]:
        """The subscriber's own contact events after the cursor `after` (live only without
        one). While the consumer reads a `Pop`, `loaders` and the masking access are that
        event's own (gateway/events/screen_pops.py)."""
        ...

    def journey_updates(self, customer_id: str, after: str | None) -> AsyncGenerator[Change, None]:
        """The customer's events after the cursor `after`, each with the customer re-read with
        that event's own `loaders` and access (gateway/events/journey_updates.py)."""
        ...


Info = strawberry.Info[Context, None]
