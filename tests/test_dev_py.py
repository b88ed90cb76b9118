"""dev.py, the README's two commands: it says what it installs while it installs, a venv set up
by `test` serves `demo` too, stopping dev.py stops the demo's servers, and the README's install
lines work from a clone."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_dev() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dev", ROOT / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def dev(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, list[str]]:
    """dev.py with its .venv in tmp_path and `run` and venv creation faked: what it prints and
    runs is recorded, in order, in one list."""
    module = load_dev()
    events: list[str] = []
    venv_dir = tmp_path / ".venv"
    monkeypatch.setattr(module, "VENV", venv_dir)
    monkeypatch.setattr(module, "PYTHON", venv_dir / "bin" / "python")

    def run(*args: Any, **_: Any) -> None:
        events.append("run " + " ".join(str(a) for a in args[1:]))

    class Builder:
        def __init__(self, **_: Any) -> None:
            pass

        def create(self, path: Path) -> None:
            (path / "bin").mkdir(parents=True)
            (path / "bin" / "python").touch()

    monkeypatch.setattr(module, "run", run)
    monkeypatch.setattr(module.venv, "EnvBuilder", Builder)

    def record(*args: Any, **_: Any) -> None:
        events.append(" ".join(map(str, args)))

    monkeypatch.setattr(module, "print", record, raising=False)
    return module, events


def test_a_first_install_says_what_it_is_doing_step_by_step(
    dev: tuple[ModuleType, list[str]],
) -> None:
    module, events = dev
    module.ensure_venv("")
    assert events[0].startswith("dev.py: creating the virtual environment")
    assert events[1:] == [
        "dev.py: upgrading pip",
        "run -m pip install -q --upgrade pip",
        "dev.py: installing dependencies (.; the first time takes about a minute)...",
        "run -m pip install -q -e .",
        "dev.py: dependencies installed",
    ]
    events.clear()
    module.ensure_venv("")
    assert events == []  # stamped: nothing to do, nothing said


def test_a_venv_installed_for_the_tests_serves_the_demo(
    dev: tuple[ModuleType, list[str]],
) -> None:
    module, events = dev
    module.ensure_venv("test")
    events.clear()
    module.ensure_venv("")
    assert events == []
    module.ensure_venv("test")
    assert events == []


def test_the_readme_install_lines_work_from_a_clone() -> None:
    """The package is not on an index: every `pip install` the README shows installs this
    repository, with extras pyproject.toml defines."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    installs = re.findall(r"pip install ([^`\n]+)", readme)
    assert installs
    for install in installs:
        match = re.fullmatch(r'-e "\.\[([a-z,]+)\]"|-e \.', install.strip())
        assert match, install
        assert all(extra in extras for extra in (match.group(1) or "").split(",") if extra)


def free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", 0))
            port: int = a.getsockname()[1]
            try:
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port pair")


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def venv_is_ready() -> bool:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    stamps = [ROOT / ".venv" / ".installed-base", ROOT / ".venv" / ".installed-test"]
    return any(s.exists() and s.read_text() == digest for s in stamps)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads children from /proc")
@pytest.mark.skipif(not venv_is_ready(), reason="dev.py would install first")
def test_sigterm_to_dev_py_demo_stops_the_demo_servers() -> None:
    port = free_port_pair()
    command = [sys.executable, str(ROOT / "dev.py"), "demo", "--port", str(port)]
    with subprocess.Popen(
        [*command, "--customers", "300"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as wrapper:
        demo: list[int] = []
        try:
            assert wrapper.stdout is not None
            lines: list[str] = []
            while not any("Application startup complete" in line for line in lines):
                line = wrapper.stdout.readline()
                assert line, "dev.py demo exited early:\n" + "".join(lines)
                lines.append(line)
            demo = children_of(wrapper.pid)
            assert len(demo) == 1, demo
            wrapper.send_signal(signal.SIGTERM)
            assert wrapper.wait(timeout=30) == 0
            assert children_of(wrapper.pid) == [] and not Path(f"/proc/{demo[0]}").exists()
            assert is_free(port) and is_free(port + 1)
        finally:
            for pid in demo:  # only if dev.py left it behind
                if Path(f"/proc/{pid}").exists():
                    subprocess.run(["kill", "-KILL", str(pid)], check=False)
            wrapper.kill()
