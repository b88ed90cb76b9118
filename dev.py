#!/usr/bin/env python3
"""The two commands, on a machine that has nothing but Python 3.11+ and the package registries.

    python3 dev.py demo [--port 8000]   sandbox systems + gateway + GraphiQL
    python3 dev.py test                 lint, type-check and the whole test suite

Both create (or refresh) the virtual environment in .venv first, saying so as they go; `test`
also installs headless Chromium from Debian's packages when it is missing and this user may (the
GraphiQL browser test). Stopping dev.py (SIGTERM, Ctrl-C) stops what it started.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"


def run(*args: str | Path, **kwargs: object) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT, **kwargs)  # type: ignore[call-overload]


def say(text: str) -> None:
    print(f"dev.py: {text}", flush=True)


def call(*args: str | Path) -> int:
    """Run a command to its end and return its exit code. SIGTERM is passed on to it, and so is
    SIGINT unless the terminal already delivered it to the whole foreground group (Ctrl-C): a
    process manager that stops dev.py stops the demo's servers too, and nothing is left behind.
    """
    child = subprocess.Popen([str(a) for a in args], cwd=ROOT)

    def forward(signum: int, _frame: object) -> None:
        if signum == signal.SIGINT and _in_foreground():
            return
        child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _in_foreground() -> bool:
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


def ensure_venv(extras: str) -> None:
    if sys.version_info < (3, 11):
        sys.exit("Switchboard needs Python 3.11 or newer")
    stamp = VENV / f".installed-{extras or 'base'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    # the test extra holds everything the base needs: after `test`, `demo` installs nothing
    enough = [stamp] if extras else [stamp, VENV / ".installed-test"]
    if PYTHON.exists() and any(s.exists() and s.read_text() == digest for s in enough):
        return
    if not PYTHON.exists():
        say(f"creating the virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    say("upgrading pip")
    run(PYTHON, "-m", "pip", "install", "-q", "--upgrade", "pip")
    target = f".[{extras}]" if extras else "."
    say(f"installing dependencies ({target}; the first time takes about a minute)...")
    run(PYTHON, "-m", "pip", "install", "-q", "-e", target)
    stamp.write_text(digest)
    say("dependencies installed")


DEBIAN_PACKAGES = {"chromium": "chromium", "redis-server": "redis-server", "curl": "curl"}
"""Programs the tests need (the GraphiQL browser test; the shared rate-limit test; the docs'
curl examples, run as written): command -> Debian package."""

TOOLS = {"clairvoyance": "clairvoyance==2.5.5"}
"""Command-line tools the tests run, each in a venv of its own under .venv/tools/ (clairvoyance
pins an old 'asyncio' backport that must not land in the project's environment)."""


def ensure_debian_packages() -> None:
    missing = [package for command, package in DEBIAN_PACKAGES.items() if not shutil.which(command)]
    if not missing:
        return
    apt = shutil.which("apt-get")
    if apt and hasattr(os, "geteuid") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run(apt, "update", "-qq", env=env)
        run(apt, "install", "-y", "-qq", "--no-install-recommends", *missing, env=env)
    else:
        print(f"missing Debian packages for some tests: {' '.join(missing)}")


def ensure_tools() -> None:
    for command, requirement in TOOLS.items():
        home = VENV / "tools" / command
        if (home / "bin" / command).exists():
            continue
        say(f"installing {requirement} for the tests, in {home}")
        venv.EnvBuilder(with_pip=True, clear=True).create(home)
        run(home / "bin" / "python", "-m", "pip", "install", "-q", requirement)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "demo":
        ensure_venv("")
        return call(BIN / "switchboard", "demo", *argv[1:])
    if command == "test":
        ensure_venv("test")
        ensure_debian_packages()
        ensure_tools()
        run(BIN / "ruff", "check", ".")
        run(BIN / "ruff", "format", "--check", ".")
        run(BIN / "mypy")
        return call(PYTHON, "-m", "pytest", *argv[1:])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
