"""A closed-loop load driver: `concurrency` workers each send the next request as soon as the
previous answer arrives, for a fixed duration after a warm-up. Latencies are wall-clock per
request; CPU is read from the OS for the processes under test (/proc), not for this one.

The driver uses aiohttp (~0.1 ms CPU per request) so that on a 2-core machine it takes as little
CPU as possible from the processes it measures.

Asked to (`metrics=True`), it also reads the process's `GET /metrics` (Prometheus text format)
right before and right after the measured window, outside the CPU reading, and keeps the
difference: what the counters say about exactly the measured requests.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from tests.support.processes import ADMIN_URLS

from .results import GcWindow

__all__ = [
    "LoadResult",
    "Metrics",
    "cpu_seconds",
    "drive",
    "gc_window",
    "merge_gc",
    "metric_sum",
    "metrics_delta",
    "parse_metrics",
    "peak_rss_mb",
    "rss_mb",
    "scrape_metrics",
    "tree_cpu_seconds",
    "tree_peak_rss_mb",
]

Metrics = dict[tuple[str, tuple[tuple[str, str], ...]], float]
"""Samples of a Prometheus exposition: (name, sorted (label, value) pairs) -> value."""


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    gateway_cpu_s: float
    """CPU (user + system) of the process under test during the measured window."""
    other_cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU of the other processes named to `drive` (e.g. the sandbox), same window."""
    first_error: str | None = None
    metrics: Metrics | None = None
    """With `metrics=True`: the counters' increase over the measured window; None when the
    process has no `GET /metrics` (404) or was not asked."""
    gc: GcWindow | None = None
    """With `metrics=True`: the collector pauses in the window (None without them)."""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index]

    def row(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "rps": round(self.rps, 1),
            "p50_ms": round(self.percentile(50), 1),
            "p99_ms": round(self.percentile(99), 1),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 1) if self.latencies_ms else None,
            "ops_per_cpu_s": round(self.requests / self.gateway_cpu_s, 1)
            if self.gateway_cpu_s
            else None,
        }


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        out.setdefault(ppid, []).append(int(entry))
    return out


def _tree(pid: int) -> list[int]:
    """`pid` and its live descendants (a Node gateway may run workers)."""
    children, out, todo = _children(), [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live descendants."""
    total = 0.0
    for member in _tree(pid):
        try:
            total += cpu_seconds(member)
        except OSError:
            if member == pid:
                raise
    return total


def tree_peak_rss_mb(pid: int) -> float:
    """The peak resident sets (VmHWM) of a process and its live descendants, summed, MiB."""
    total = 0.0
    for member in _tree(pid):
        try:
            total += peak_rss_mb(member)
        except OSError:
            if member == pid:
                raise
    return total


def _status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), MiB."""
    return _status_kb(pid, "VmHWM") / 1024


def rss_mb(pid: int) -> float:
    """The process's resident set now (VmRSS), MiB."""
    return _status_kb(pid, "VmRSS") / 1024


async def drive(
    url: str,
    payload: dict[str, Any],
    headers: dict[str, str],
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
    pid: int,
    accept_errors: bool = False,
    others: Mapping[str, int] | None = None,
    metrics: bool = False,
) -> LoadResult:
    """Drive POST {url}/graphql with `payload`; an answer is a failure if it is not a 200 or
    (unless `accept_errors`) carries GraphQL errors or no data. With `metrics`,
    `GET {url}/metrics` is read just before and just after the measured window (outside its CPU
    reading). CPU is the process tree's of `pid`."""
    body = orjson.dumps(payload)
    all_headers = {**headers, "content-type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    first_error: list[str] = []
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
    ) as http:
        endpoint = url.rstrip("/") + "/graphql"

        async def once() -> tuple[float, bool]:
            started = time.perf_counter()
            async with http.post(endpoint, data=body, headers=all_headers) as response:
                raw = await response.read()
                status = response.status
            elapsed = (time.perf_counter() - started) * 1000
            failed = status != 200
            if not failed and not accept_errors:
                answer = orjson.loads(raw)
                failed = not isinstance(answer, dict) or bool(answer.get("errors"))
                failed = failed or answer.get("data") is None
            if failed and not first_error:
                first_error.append(f"{status}: {raw[:300].decode(errors='replace')}")
            return elapsed, failed

        async def worker(until: float, sink: list[tuple[float, bool]]) -> None:
            while time.perf_counter() < until:
                sink.append(await once())

        if warmup > 0:
            warm: list[tuple[float, bool]] = []
            until = time.perf_counter() + warmup
            await asyncio.gather(*(worker(until, warm) for _ in range(concurrency)))
        measured: list[tuple[float, bool]] = []
        named = dict(others or {})
        metrics_before = await scrape_metrics(http, url) if metrics else None
        before = {name: cpu_seconds(p) for name, p in named.items()}
        cpu_before = tree_cpu_seconds(pid)
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(*(worker(until, measured) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu = tree_cpu_seconds(pid) - cpu_before
        other = {name: cpu_seconds(p) - before[name] for name, p in named.items()}
        metrics_after = await scrape_metrics(http, url) if metrics_before is not None else None
    return LoadResult(
        requests=len(measured),
        errors=sum(1 for _, failed in measured if failed),
        seconds=elapsed,
        latencies_ms=[ms for ms, _ in measured],
        gateway_cpu_s=cpu,
        other_cpu_s=other,
        first_error=first_error[0] if first_error else None,
        metrics=metrics_delta(metrics_before, metrics_after),
        gc=gc_window(metrics_before, metrics_after, cpu),
    )


# -- GET /metrics ------------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?\s*$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_ESCAPE = re.compile(r"\\(.)")


def parse_metrics(text: str) -> Metrics:
    """The samples of a Prometheus text exposition (or OpenMetrics): comments, blank lines and
    lines that do not parse are skipped; a sample's timestamp is ignored."""
    out: Metrics = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        name, labels_text, raw_value = match.groups()
        try:
            value = float(raw_value)
        except ValueError:
            continue
        labels: list[tuple[str, str]] = []
        if labels_text:
            position = 0
            while position < len(labels_text):
                label = _LABEL.match(labels_text, position)
                if label is None or label.end() == position:
                    break
                escaped = _ESCAPE.sub(lambda m: "\n" if m[1] == "n" else m[1], label[2])
                labels.append((label[1], escaped))
                position = label.end()
            if labels_text[position:].strip():
                continue  # a label set this parser does not understand: skip the sample
        key = (name, tuple(sorted(labels)))
        out[key] = out.get(key, 0.0) + value
    return out


async def scrape_metrics(http: aiohttp.ClientSession, url: str) -> Metrics | None:
    """`GET {url}/metrics` (a gateway's internal port), parsed; None unless it answers 200
    (e.g. no such endpoint)."""
    base = ADMIN_URLS.get(url.rstrip("/"), url)
    async with http.get(base.rstrip("/") + "/metrics") as response:
        text = await response.text(errors="replace")
        if response.status != 200:
            return None
    return parse_metrics(text)


def metrics_delta(before: Metrics | None, after: Metrics | None) -> Metrics | None:
    """How much each sample grew between two readings (counters); None if either is missing."""
    if before is None or after is None:
        return None
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


def metric_sum(metrics: Metrics, name: str) -> float:
    """The sum of the samples called `name`, whatever their labels."""
    return sum(value for (sample, _), value in metrics.items() if sample == name)


# -- collector pauses (gateway/observability/gcpauses.py) ---------------------------------------

PAUSE = "switchboard_gc_pause_seconds"
PAUSE_MAX = "switchboard_gc_pause_max_seconds"
GC_CPU = "switchboard_gc_cpu_seconds_total"
LONG_PAUSE_S = 0.01


def gc_window(
    before: Metrics | None, after: Metrics | None, process_cpu_s: float | None = None
) -> GcWindow | None:
    """The pauses between two readings of GET /metrics: how many collections, how many over
    10 ms, and the longest — exact when it raised the process's maximum (the gauge), otherwise
    the upper bound of the highest bucket that grew (and never above the maximum before); the
    collector's CPU, and its share of `process_cpu_s`. None when either reading lacks them."""
    if before is None or after is None:
        return None
    generations = sorted(dict(labels)["generation"] for name, labels in after if name == PAUSE_MAX)
    if not generations:
        return None
    collections = over = 0
    longest, exact, which = 0.0, True, None
    counts: dict[str, int] = {}
    for generation in generations:
        label = (("generation", generation),)
        buckets: list[tuple[float, float]] = []
        for (name, labels), value in after.items():
            found = dict(labels)
            if name == PAUSE + "_bucket" and found.get("generation") == generation:
                delta = value - before.get((name, labels), 0.0)
                buckets.append((float(found["le"]), delta))
        buckets.sort()
        total = buckets[-1][1] if buckets else 0.0
        if not total:
            continue
        collections += round(total)
        counts[generation] = round(total)
        at_10ms = max((n for bound, n in buckets if bound <= LONG_PAUSE_S), default=0.0)
        over += round(total - at_10ms)
        max_before = before.get((PAUSE_MAX, label), 0.0)
        max_after = after.get((PAUSE_MAX, label), 0.0)
        if max_after > max_before:
            candidate, candidate_exact = max_after, True
        else:
            bound = next(b for b, n in buckets if n >= total)
            candidate, candidate_exact = min(bound, max_before), False
        if candidate > longest:
            longest, exact, which = candidate, candidate_exact, generation
    cpu: float | None = None
    if any(name == GC_CPU for name, _ in after):
        cpu = sum(v - before.get(k, 0.0) for k, v in after.items() if k[0] == GC_CPU)
    share = round(cpu / process_cpu_s, 4) if cpu is not None and process_cpu_s else None
    return GcWindow(
        collections,
        over,
        round(longest * 1000, 2),
        exact,
        counts,
        which,
        cpu_ms=None if cpu is None else round(cpu * 1000, 2),
        process_cpu_ms=None if process_cpu_s is None else round(process_cpu_s * 1000, 1),
        cpu_share=share,
    )


def merge_gc(windows: list[GcWindow | None]) -> GcWindow | None:
    """Several windows as one: counts summed, the longest pause of them all."""
    present = [w for w in windows if w is not None]
    if not present:
        return None
    worst = max(present, key=lambda w: (w.longest_ms, w.longest_exact))
    counts: dict[str, int] = {}
    for w in present:
        for generation, n in w.by_generation.items():
            counts[generation] = counts.get(generation, 0) + n
    cpu = [w.cpu_ms for w in present]
    total = None if any(c is None for c in cpu) else sum(c or 0.0 for c in cpu)
    processes = [w.process_cpu_ms for w in present]
    process = None if any(p is None for p in processes) else sum(p or 0.0 for p in processes)
    return GcWindow(
        collections=sum(w.collections for w in present),
        over_10ms=sum(w.over_10ms for w in present),
        longest_ms=worst.longest_ms,
        longest_exact=worst.longest_exact,
        by_generation=dict(sorted(counts.items())),
        longest_generation=worst.longest_generation,
        cpu_ms=None if total is None else round(total, 2),
        process_cpu_ms=None if process is None else round(process, 1),
        cpu_share=round(total / process, 4) if total is not None and process else None,
    )
