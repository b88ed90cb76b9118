"""The garbage collector's pauses on GET /metrics: a forced collection shows up in
`switchboard_gc_pause_seconds` and `switchboard_gc_pause_max_seconds` for its generation (and
only the fixed generation labels appear); nothing is exported until the serving process
installs the recorder; and `switchboard serve` does install it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.observability.gcpauses import GENERATIONS, PAUSES
from gateway.observability.metrics import Metrics
from tests.support.processes import ADMIN_URLS, gateway_process, sandbox_server

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("switchboard_gc_")
        for s in family.samples
    }


def value(scraped: Samples, name: str, **labels: str) -> float:
    return scraped[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def installed() -> Iterator[None]:
    was = PAUSES.installed
    PAUSES.install()
    try:
        yield
    finally:
        if not was:
            PAUSES.uninstall()


@pytest.mark.usefixtures("installed")
def test_a_forced_collection_shows_up_in_the_histogram_of_its_generation() -> None:
    metrics = Metrics()
    before = samples(metrics.render().decode())
    gc.collect()  # a full collection: generation 2
    after = samples(metrics.render().decode())

    count = "switchboard_gc_pause_seconds_count"
    assert value(after, count, generation="2") >= value(before, count, generation="2") + 1
    longest = value(after, "switchboard_gc_pause_max_seconds", generation="2")
    assert longest > 0
    # the pause is in a bucket at or above its duration, so in +Inf and in every bucket past it
    inf = value(after, "switchboard_gc_pause_seconds_bucket", generation="2", le="+Inf")
    assert inf == value(after, count, generation="2")
    assert value(after, "switchboard_gc_pause_seconds_sum", generation="2") >= longest
    cpu = "switchboard_gc_cpu_seconds_total"
    assert value(after, cpu, generation="2") > value(before, cpu, generation="2")
    assert {dict(labels)["generation"] for _, labels in after} == set(GENERATIONS)


def test_nothing_is_exported_before_the_recorder_is_installed() -> None:
    if PAUSES.installed:
        pytest.skip("installed by another test of this process")
    gc.collect()
    assert samples(Metrics().render().decode()) == {}


def test_switchboard_serve_exports_its_collector_pauses() -> None:
    with sandbox_server(200) as (sandbox, _), gateway_process(sandbox) as (url, _):
        text = httpx.get(ADMIN_URLS[url] + "/metrics", timeout=10).text
    scraped = samples(text)
    assert {dict(labels)["generation"] for _, labels in scraped} == set(GENERATIONS)
    for generation in GENERATIONS:
        assert value(scraped, "switchboard_gc_pause_max_seconds", generation=generation) >= 0
