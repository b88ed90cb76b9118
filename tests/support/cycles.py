"""Counting what only the cycle collector would free: objects of a request left in reference
cycles (the collector's young generation grows with them, and its pauses and the process's
RSS with it). Counts, never times."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["cycle_garbage", "type_name"]

WATCHED = ("sources.", "resolvers.", "schema.", "gateway.", "graphql.", "aiodataloader")
"""Modules whose objects a request makes: none of them may end in a cycle."""


def type_name(obj: object) -> str:
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


@contextmanager
def cycle_garbage(watched: tuple[str, ...] = WATCHED) -> Iterator[Counter[str]]:
    """Yields a Counter, filled on exit with the objects of `watched` modules (and the frames,
    tracebacks and futures) that became cyclic garbage inside the block, by type. The collector
    is off inside the block and keeps (DEBUG_SAVEALL) what it would have freed."""
    found: Counter[str] = Counter()
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield found
        gc.collect()
        for obj in gc.garbage:
            name = type_name(obj)
            if name.startswith(watched) or name in (
                "builtins.frame",
                "builtins.traceback",
                "_asyncio.Future",
                "asyncio.futures.Future",
            ):
                found[name] += 1
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if was_enabled:
            gc.enable()
