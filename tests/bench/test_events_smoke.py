"""`python -m bench.events` end to end in its quick mode: the sandbox, one gateway and then two
replicas over a redis-server, agents subscribed over graphql-transport-ws, simulated calls
driven by signed webhooks. Checks counts (every frame of every call arrived, on the right
agent's socket only, no subscription ended), the JSON's shape and the goals' evaluation; never
a timing: performance is read from the bench, not asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from graphql import parse, validate

from bench.events import DOCUMENT, parse_options
from bench.events_results import (
    EVENTS,
    EventFigures,
    EventsRun,
    Goal,
    Memory,
    Point,
    goals,
    percentile,
)
from bench.results import json_keys
from schema import build_schema

ROOT = Path(__file__).resolve().parents[2]


def test_quick_run_pops_every_event_of_every_call_on_the_right_agent_only(
    tmp_path: Path,
) -> None:
    out = tmp_path / "events.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.events", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for printed in ("OFFERED", "CONNECTED", "VERIFIED", "goals", "KiB per idle subscriber"):
        assert printed in done.stdout

    results = json.loads(out.read_text())
    assert set(results) == json_keys(EventsRun)
    settings = results["settings"]
    assert settings["agents"] == [1, 4] and settings["calls"] == 2
    assert settings["deployments"] == ["one process", "two replicas"]
    assert settings["critical_path_ms"] == settings["hydration_levels"] * 20
    points = results["points"]
    assert [(p["deployment"], p["agents"]) for p in points] == [
        ("one process", 1),
        ("one process", 4),
        ("two replicas", 1),
        ("two replicas", 4),
    ]
    for p in points:
        assert set(p) == json_keys(Point)
        assert p["calls"] == 2
        assert p["misrouted_frames"] == 0  # no agent saw another agent's call
        assert p["subscriptions_ended"] == 0
        assert list(p["events"]) == list(EVENTS)
        for event, figures in p["events"].items():
            assert set(figures) == json_keys(EventFigures)
            assert figures["received"] == figures["expected"] == 2, (p["deployment"], event)
        # the OFFERED frame carries the context: hydrated from the back-ends
        assert p["events"]["OFFERED"]["backend_calls"] > 0
        assert "ccaas GET /contacts" in p["events"]["OFFERED"]["calls_by_route"]
        assert set(p["gateway_cpu_pct"]) == (
            {"gateway"} if p["deployment"] == "one process" else {"replica A", "replica B"}
        )
    memory = results["memory"]
    assert set(memory) == json_keys(Memory) and set(memory["rss_mb"]) == {"4"}
    lines = results["goals"]
    assert all(set(g) == json_keys(Goal) for g in lines)
    assert sum(g["goal"] == "OFFERED p95 ms" for g in lines) == 4
    assert sum(g["goal"] == "CONNECTED p95 ms" for g in lines) == 4
    assert {g["limit"] for g in lines if g["goal"] == "CONNECTED p95 ms"} == {10.0, 25.0}
    assert all(g["status"] in ("met", "missed") for g in lines if g["limit"] is not None)
    assert out.with_suffix(".md").read_text().count("| OFFERED |") == 4


def test_the_desktop_subscription_is_valid_against_the_schema() -> None:
    assert validate(build_schema()._schema, parse(DOCUMENT)) == []
    assert "screenPops" in DOCUMENT and "phones" in DOCUMENT and "cases" in DOCUMENT


def test_quick_mode_options() -> None:
    quick = parse_options(["--quick"])
    assert quick.agents == [1, 4] and quick.calls == 2
    assert parse_options([]).agents == [1, 100, 1000]
    assert parse_options(["--agents", "10", "1", "10"]).agents == [1, 10]


def _figures(expected: int, latencies: list[float]) -> EventFigures:
    lost = [float("inf")] * (expected - len(latencies))
    return EventFigures(
        expected=expected,
        received=len(latencies),
        p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies + lost, 95),
        p99_ms=percentile(latencies + lost, 99),
        max_ms=max(latencies, default=None),
        errors_per_frame=None,
        error_codes=[],
        backend_calls=None,
        calls_by_route={},
    )


def _point(deployment: str, offered: EventFigures, connected: EventFigures) -> Point:
    events = {e: offered for e in EVENTS} | {"CONNECTED": connected}
    return Point(deployment, 1, 20, 1.0, 4.0, events, None, None, 0, 0, 0, {}, {}, 0.0)


def test_goals_count_a_lost_frame_as_infinitely_late() -> None:
    fast = [5.0] * 20
    all_in = _point("one process", _figures(20, [90.0] * 20), _figures(20, fast))
    # 2 of 20 lost: more than 5%, so p95 is beyond any limit, whatever arrived in time
    lossy = _point("two replicas", _figures(20, [90.0] * 18), _figures(20, fast[:19]))
    memory = Memory(80.0, {"100": 81.0}, {"100": 10.3})
    lines = {(g.deployment, g.goal): g for g in goals([all_in, lossy], memory, 80.0)}
    assert lines[("one process", "OFFERED p95 ms")].status == "met"
    assert lines[("one process", "OFFERED p95 ms")].limit == 100.0
    assert lines[("one process", "CONNECTED p95 ms")].limit == 10.0
    assert lines[("one process", "CONNECTED p95 ms")].status == "met"
    offered = lines[("two replicas", "OFFERED p95 ms")]
    assert offered.status == "missed" and offered.figure is None
    assert offered.note == "2 of 20 frames lost"
    # 1 of 20 lost (5%): p95 still over what arrived
    connected = lines[("two replicas", "CONNECTED p95 ms")]
    assert connected.limit == 25.0 and connected.status == "met"
    assert lines[("one process", "KiB per idle subscriber")].figure == 10.3
