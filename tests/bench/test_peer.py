"""The peer's side of the benchmark without Node: issue #18's goals evaluated from a fixture run
(tests/bench/fixtures/peer-run.json), the soak's memory goals, a measured window's collector
pauses read from two GET /metrics readings, the answers of Mesh and Switchboard normalised to one
model, and the harness skipping the peer with its reason when Node is missing or too old. No Hive
Gateway runs here: `python -m bench` runs it (docs/performance.md, "Performance III")."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from bench import peer
from bench.cli import _peer, parse
from bench.load import gc_window, parse_metrics
from bench.peer_check import normalise
from bench.peer_goals import goals, soak_goals
from bench.report import goal_text
from bench.soak import growth_per_minute

FIXTURE = Path(__file__).parent / "fixtures" / "peer-run.json"


def _fixture() -> dict[str, Any]:
    run: dict[str, Any] = json.loads(FIXTURE.read_text())
    return run


def _verdicts(run: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(g.scenario, g.goal): g.verdict for g in goals(run)}


def test_the_goals_are_evaluated_from_a_run() -> None:
    v = _verdicts(_fixture())
    ops, bar = "ops/CPU-s compiled / Hive", "ops/CPU-s compiled / Hive (intermediate)"
    p99, tail = "p99@16 compiled / Hive", "p99 / p50 @1, 20 ms back-ends (compiled)"
    pauses = "GC pauses > 10 ms in the windows (compiled)"
    # supervisor-10: 2.1x Hive, p99 70 < 84 ms, p99 1.1x p50, no pause over 10 ms
    assert [v["supervisor-10", g] for g in (ops, bar, p99, tail, pauses)] == ["PASS"] * 5
    # supervisor-100: 1.6x (the intermediate bar only), p99 above Hive's, 1.9x tail, 3 pauses
    assert [v["supervisor-100", g] for g in (ops, bar, p99, tail, pauses)] == [
        "MISS",
        "PASS",
        "MISS",
        "MISS",
        "MISS",
    ]
    # screenpop: 2.0x exactly passes; p50 67 ms over the 60 ms critical path is 1.117 > 1.1
    assert v["screenpop", ops] == "PASS"
    assert v["screenpop", "p50 @1, 20 ms back-ends / critical path (compiled)"] == "MISS"
    assert v["all", "peak RSS MiB through the bench (compiled)"] == "PASS"  # 148.2 <= 150

    lines = {(g.scenario, g.goal): g for g in goals(_fixture())}
    assert lines["supervisor-100", ops].figure == 1.6
    assert lines["supervisor-100", pauses].figure == 3
    assert lines["supervisor-100", pauses].note == "longest <= 250.0 ms (generation 1)"
    assert (
        lines["supervisor-10", pauses].note == "longest 4.1 ms (generation 0); GC 3.0% of the CPU"
    )
    printed = goal_text(goals(_fixture()))
    assert "PASS" in printed and "MISS" in printed and "supervisor-100" in printed


def test_without_the_peer_its_goals_say_why_and_the_others_are_still_evaluated() -> None:
    run = _fixture()
    run["peer"] = {"ran": False, "reason": "no `node` on PATH", "versions": {}}
    for row in run["runs"]["aiohttp"].values():
        del row["hive"]
    lines = {(g.scenario, g.goal): g for g in goals(run)}
    against_hive = lines["supervisor-10", "ops/CPU-s compiled / Hive"]
    assert against_hive.verdict == "not measured" and against_hive.figure is None
    assert against_hive.note == "no `node` on PATH"
    assert lines["supervisor-10", "p99@16 compiled / Hive"].verdict == "not measured"
    assert lines["supervisor-10", "p99 / p50 @1, 20 ms back-ends (compiled)"].verdict == "PASS"

    del run["runs"]["aiohttp"]["screenpop"]
    assert lines["screenpop", "ops/CPU-s compiled / Hive"].verdict == "not measured"
    assert {g.note for g in goals(run) if g.scenario == "screenpop"} == {"scenario not run"}


def test_the_soak_is_flat_when_its_last_half_does_not_grow() -> None:
    flat = [(float(t), 100.0 + (5.0 if t < 300 else 0.0)) for t in range(0, 601, 10)]
    assert growth_per_minute(flat) == 0.0
    growing = [(float(t), 116.0 + t / 60) for t in range(0, 601, 10)]  # 1 MiB a minute
    assert growth_per_minute(growing) == pytest.approx(1.0)
    assert growth_per_minute(growing[:2]) is None

    soak = {"mix": True, "peak_rss_mb": 181.0, "rss_first_mb": 116.0, "rss_last_mb": 181.0}
    soak |= {"rss_max_mb": 181.0, "growth_mb_per_min_last_half": 1.0}
    assert [g.verdict for g in soak_goals(soak)] == ["MISS", "MISS", "MISS"]
    soak |= {"peak_rss_mb": 120.0, "rss_max_mb": 119.0, "growth_mb_per_min_last_half": 0.05}
    assert [g.verdict for g in soak_goals(soak)] == ["PASS", "PASS", "PASS"]


EXPOSITION = """# TYPE switchboard_gc_pause_seconds histogram
switchboard_gc_pause_seconds_bucket{generation="0",le="0.005"} %d.0
switchboard_gc_pause_seconds_bucket{generation="0",le="0.01"} %d.0
switchboard_gc_pause_seconds_bucket{generation="0",le="0.1"} %d.0
switchboard_gc_pause_seconds_bucket{generation="0",le="+Inf"} %d.0
switchboard_gc_pause_seconds_count{generation="0"} %d.0
switchboard_gc_pause_max_seconds{generation="0"} %s
switchboard_gc_cpu_seconds_total{generation="0"} %s
"""


def _reading(le5: int, le10: int, le100: int, inf: int, longest: str, cpu: str = "0") -> Any:
    return parse_metrics(EXPOSITION % (le5, le10, le100, inf, inf, longest, cpu))


def test_a_windows_collector_pauses_come_from_two_readings_of_the_metrics() -> None:
    before = _reading(10, 10, 10, 10, "0.004", cpu="0.5")
    # 5 more collections: 3 under 5 ms, 2 between 10 and 100 ms, one of them a new maximum;
    # 60 ms of the collector's CPU out of the process's 1.2 s
    window = gc_window(before, _reading(13, 13, 15, 15, "0.042", cpu="0.56"), 1.2)
    assert window is not None
    assert window.cpu_ms == 60.0 and window.cpu_share == 0.05
    assert (window.collections, window.over_10ms) == (5, 2)
    assert (window.longest_ms, window.longest_exact) == (42.0, True)
    assert window.by_generation == {"0": 5} and window.longest_generation == "0"
    # no new maximum (the 0.2 s one was before): the highest bucket that grew bounds it
    later = _reading(13, 13, 15, 15, "0.2")
    bounded = gc_window(later, _reading(13, 14, 16, 16, "0.2"))  # one of 5-10 ms
    assert bounded is not None
    assert (bounded.collections, bounded.over_10ms, bounded.longest_ms) == (1, 0, 10.0)
    assert bounded.longest_exact is False
    assert gc_window(before, None) is None
    assert gc_window(parse_metrics(""), parse_metrics("")) is None  # a gateway without them


def test_mesh_and_switchboard_answers_normalise_to_one_model() -> None:
    switchboard = {
        "customers": [
            {
                "id": "c1",
                "fullName": "Ada Byron",
                "segment": "RETAIL",
                "accounts": [
                    {
                        "id": "A1",
                        "type": "CURRENT",
                        "productName": "Everyday",
                        "status": "ENABLED",
                        "balance": "10.00",
                    }
                ],
                "cases": [
                    {"number": "7", "subject": "Card", "status": "ESCALATED", "priority": "MEDIUM"}
                ],
            },
            None,  # an unknown id: null in the answer, absent from Mesh's
        ]
    }
    mesh = {
        "customers": {
            "records": [
                {
                    "Id": "c1",
                    "FirstName": "Ada",
                    "LastName": "Byron",
                    "Segment__c": "RETAIL",
                    "accounts": [
                        {
                            "AccountId": "A1",
                            "AccountType": "CURRENT",
                            "ProductName": "Everyday",
                            "Status": "Enabled",
                            "Balance": {"Current": "10.00"},
                        }
                    ],
                    "cases": [
                        {"CaseNumber": "7", "Subject": "Card", "Status": "Escalated"}
                        | {"Priority": "Medium"}
                    ],
                }
            ]
        }
    }
    ours = normalise("supervisor-10", False, switchboard)
    assert ours == normalise("supervisor-10", True, mesh)
    mesh["customers"]["records"][0]["Segment__c"] = "PRIVATE"
    assert ours != normalise("supervisor-10", True, mesh)


def _path_with(tmp_path: Path, node_version: str | None) -> str:
    """A PATH holding only a fake `node` printing `node_version` (none if None)."""
    if node_version is not None:
        node = tmp_path / "node"
        node.write_text(f"#!/bin/sh\necho {node_version}\n")
        node.chmod(node.stat().st_mode | stat.S_IXUSR)
    return str(tmp_path)


def test_the_peer_is_skipped_with_its_reason_when_node_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", _path_with(tmp_path, None))
    monkeypatch.setenv("SWITCHBOARD_PEER_DIR", str(tmp_path / "peer"))
    reason = peer.prepare()
    assert isinstance(reason, str) and "no `node` on PATH" in reason
    assert not (tmp_path / "peer").exists()  # nothing installed, nothing copied

    options = parse(["--scenarios", "supervisor-10"])
    found, info = _peer(options)
    assert found is None and info.ran is False and info.reason == reason
    with pytest.raises(SystemExit, match="the peer cannot run: no `node` on PATH"):
        _peer(parse(["--scenarios", "supervisor-10", "--peer", "on"]))


def test_the_peer_is_skipped_when_node_is_too_old_or_not_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", _path_with(tmp_path, "v18.19.0"))
    assert peer.prepare() == "node on PATH is v18: the peer needs Node >= 20"
    assert os.environ["PATH"] == str(tmp_path)
    for argv, why in (
        (["--quick"], "not with --quick (--peer on to run it)"),
        (["--peer", "off"], "not asked (--peer off)"),
        (["--scenarios", "ivr"], "none of its workloads asked"),
    ):
        found, info = _peer(parse(argv))
        assert found is None and info.ran is False
        assert info.reason is not None and info.reason.startswith(why)


def _fake_peer(root: Path, hive: str, compose_ok: bool = True) -> peer.Peer:
    """A peer whose `mesh-compose` writes the supergraph (or fails) and whose `hive-gateway`
    is the shell script `hive`: no Node needed."""
    fake = peer.Peer(root)
    fake.bin.mkdir(parents=True)
    compose = '#!/bin/sh\n[ "$3" = "-o" ] && echo "type Query" > "$4"\n'
    scripts = {
        "mesh-compose": compose if compose_ok else "#!/bin/sh\necho cannot read openapi\nexit 3\n",
        "hive-gateway": "#!/bin/sh\n" + hive,
    }
    for name, text in scripts.items():
        path = fake.bin / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return fake


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_peer_process_is_stopped_by_its_pid_whatever_ends_the_run(tmp_path: Path) -> None:
    fake = _fake_peer(tmp_path / "peer", "exec sleep 60\n")
    with (
        pytest.raises(RuntimeError, match="the measurement failed"),
        peer.peer_starting(fake, "http://127.0.0.1:9") as starting,
    ):
        pid = starting.process.pid
        assert not _gone(pid)
        raise RuntimeError("the measurement failed")
    assert starting.process.returncode is not None and _gone(pid)


def test_a_peer_that_ignores_sigterm_is_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(peer, "STOP_TIMEOUT_S", 0.5)
    script = "trap '' TERM\ntouch trapped\nwhile :; do sleep 0.1; done\n"
    fake = _fake_peer(tmp_path / "peer", script)
    with peer.peer_starting(fake, "http://127.0.0.1:9") as starting:
        pid = starting.process.pid
        deadline = time.monotonic() + 30
        while not (fake.root / "trapped").exists():  # SIGTERM ignored from here on
            assert time.monotonic() < deadline, "the fake gateway never started"
            time.sleep(0.02)
    assert starting.process.returncode == -9 and _gone(pid)


def test_a_failed_composition_starts_nothing_and_says_why(tmp_path: Path) -> None:
    fake = _fake_peer(tmp_path / "peer", "exec sleep 60\n", compose_ok=False)
    with (
        pytest.raises(RuntimeError, match=r"mesh-compose failed \(3\): cannot read openapi"),
        peer.peer_starting(fake, "http://127.0.0.1:9"),
    ):
        pass  # pragma: no cover


def _tools(tmp_path: Path, npm: str) -> str:
    """A PATH with a fake Node 22 and a fake `npm` (the shell script `npm`) first, then the
    system's tools."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for name, text in (("node", "echo v22.23.3\n"), ("npm", npm)):
        path = tools / name
        path.write_text("#!/bin/sh\n" + text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return f"{tools}{os.pathsep}/usr/bin{os.pathsep}/bin"


def test_the_peer_is_installed_once_per_lock_file_and_skipped_when_npm_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `npm ci` as the registry would leave it: the binaries the peer runs
    installs = tmp_path / "installs"
    npm = (
        f"echo ci >> {installs}\n"
        "mkdir -p node_modules/.bin\n"
        "for b in mesh-compose hive-gateway; do\n"
        "  printf '#!/bin/sh\\n' > node_modules/.bin/$b\n"
        "done\n"
        "printf '#!/bin/sh\\necho v22.23.3\\n' > node_modules/.bin/node\n"
        "chmod +x node_modules/.bin/*\n"
    )
    monkeypatch.setenv("PATH", _tools(tmp_path, npm))
    monkeypatch.setenv("SWITCHBOARD_PEER_DIR", str(tmp_path / "peer"))
    found = peer.prepare()
    assert isinstance(found, peer.Peer) and found.root == tmp_path / "peer"
    for name in peer.FILES:  # the checkout's configuration, copied beside node_modules
        assert (found.root / name).read_bytes() == (peer.KIT / name).read_bytes()
    assert isinstance(peer.prepare(), peer.Peer)
    assert installs.read_text() == "ci\n"  # the second run found it installed

    (tmp_path / "peer" / "node_modules" / ".switchboard-installed").write_text("an older lock")
    assert isinstance(peer.prepare(install=False), str)  # a changed lock needs npm ci again


def test_a_failing_npm_ci_skips_the_peer_with_its_last_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    npm = "echo 'npm error code ENOTFOUND registry unreachable'\nexit 1\n"
    monkeypatch.setenv("PATH", _tools(tmp_path, npm))
    monkeypatch.setenv("SWITCHBOARD_PEER_DIR", str(tmp_path / "peer"))
    reason = peer.prepare()
    assert isinstance(reason, str)
    assert reason.startswith("npm ci failed (registry unreachable?): npm error code ENOTFOUND")
