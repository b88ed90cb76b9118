"""The garbage collector's pauses, as Prometheus metrics (`switchboard_gc_pause_seconds`,
`switchboard_gc_pause_max_seconds`, `switchboard_gc_cpu_seconds_total`).

A collection stops the whole process: every request in flight waits for it. Under load a
generation-1 collection of a million objects held all 16 requests past a second (issue #18), and
nothing in the request metrics says why. `gc.callbacks` tells when each collection starts and
stops; this module times them per generation.

A pause is wall-clock time: on a busy host it includes time the process waited for a core. The
collector's own CPU time (the thread's, `time.thread_time`) is counted beside it, so its share
of the process's CPU can be told apart from the host's load.

The callback runs inside the collector, at any allocation of any thread, possibly while another
piece of code holds a lock: it takes no lock, allocates next to nothing (four clock readings and
list increments; the GIL makes each increment whole) and never calls prometheus-client. The
metrics are built from its counts at scrape time (`GcPauseCollector`), so a scrape may see a
pause counted in `_count` a moment before its bucket: a difference of one, never a wrong total.

One recorder per process (`PAUSES`), installed by the serving process after start-up
(`install`), so start-up's own full collection is not counted. A registry exports the metrics
only once it is installed: an app built without serving (tests) says nothing rather than "no
pause". Labels: `generation` "0", "1", "2" only.
"""

from __future__ import annotations

import bisect
import gc
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

__all__ = ["BUCKETS", "GENERATIONS", "PAUSES", "GcPauseCollector", "GcPauses", "install"]

GENERATIONS = ("0", "1", "2")
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Seconds. Fine below 10 ms (the issue's limit for one pause) so that a window's longest pause
can be read from the buckets' increase alone."""


class GcPauses:
    """Per generation: how many collections, their total and longest duration, and how many
    fell in each bucket (non-cumulative; the collector accumulates)."""

    def __init__(self, buckets: tuple[float, ...] = BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [[0] * (len(buckets) + 1) for _ in GENERATIONS]
        self.total = [0.0] * len(GENERATIONS)
        self.cpu = [0.0] * len(GENERATIONS)
        self.longest = [0.0] * len(GENERATIONS)
        self._started = self._cpu_started = 0.0

    @property
    def installed(self) -> bool:
        return self._callback in gc.callbacks

    def install(self) -> None:
        if not self.installed:
            gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        while self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        # collections do not nest and hold the GIL: one start time is enough
        if phase == "start":
            self._started = time.perf_counter()
            self._cpu_started = time.thread_time()
            return
        seconds = time.perf_counter() - self._started
        cpu = time.thread_time() - self._cpu_started
        generation = min(info["generation"], len(GENERATIONS) - 1)
        self.counts[generation][bisect.bisect_left(self.buckets, seconds)] += 1
        self.total[generation] += seconds
        self.cpu[generation] += cpu
        if seconds > self.longest[generation]:
            self.longest[generation] = seconds


PAUSES = GcPauses()
"""The process's recorder."""


def install() -> GcPauses:
    """Start timing this process's collections (idempotent); call once start-up is done."""
    PAUSES.install()
    return PAUSES


class GcPauseCollector(Collector):
    """`switchboard_gc_pause_seconds{generation}` (histogram),
    `switchboard_gc_pause_max_seconds{generation}` (the longest since the recorder was
    installed) and `switchboard_gc_cpu_seconds_total{generation}`, read from `pauses` at scrape
    time; nothing while it is not installed."""

    def __init__(self, pauses: GcPauses = PAUSES) -> None:
        self.pauses = pauses

    def describe(self) -> Iterator[Any]:
        return iter(())  # collected at every scrape: nothing to describe ahead

    def collect(
        self,
    ) -> Iterator[HistogramMetricFamily | GaugeMetricFamily | CounterMetricFamily]:
        p = self.pauses
        if not p.installed:
            return
        pauses = HistogramMetricFamily(
            "switchboard_gc_pause_seconds",
            "Garbage-collector pauses (the whole process stops), by generation",
            labels=["generation"],
        )
        longest = GaugeMetricFamily(
            "switchboard_gc_pause_max_seconds",
            "The longest garbage-collector pause since start-up, by generation",
            labels=["generation"],
        )
        cpu = CounterMetricFamily(
            "switchboard_gc_cpu_seconds",
            "CPU time the garbage collector used (its thread's), by generation",
            labels=["generation"],
        )
        bounds = [*(repr(b) for b in p.buckets), "+Inf"]
        for generation, label in enumerate(GENERATIONS):
            counts = list(p.counts[generation])  # a copy: the callback may add meanwhile
            cumulative, running = [], 0
            for bound, count in zip(bounds, counts, strict=True):
                running += count
                cumulative.append((bound, float(running)))
            pauses.add_metric([label], cumulative, p.total[generation])
            longest.add_metric([label], p.longest[generation])
            cpu.add_metric([label], p.cpu[generation])
        yield pauses
        yield longest
        yield cpu
