#!/usr/bin/env python3
"""The two commands, on a machine that has nothing but Python 3.11+ and the package registries.

    python3 dev.py demo [--port 8000]   sandbox systems + gateway + GraphiQL
    python3 dev.py test                 lint, type-check and the whole test suite

Both create (or refresh) the virtual environment in .venv first; `test` also installs headless
Chromium from Debian's packages when it is missing and this user may (the GraphiQL browser test).
"""

from __future__ import annotations

import hashlib
import os
import shutil
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


def ensure_venv(extras: str) -> None:
    if sys.version_info < (3, 11):
        sys.exit("Switchboard needs Python 3.11 or newer")
    stamp = VENV / f".installed-{extras or 'base'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest and PYTHON.exists():
        return
    if not PYTHON.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    run(PYTHON, "-m", "pip", "install", "-q", "--upgrade", "pip")
    target = f".[{extras}]" if extras else "."
    run(PYTHON, "-m", "pip", "install", "-q", "-e", target)
    stamp.write_text(digest)


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
        venv.EnvBuilder(with_pip=True, clear=True).create(home)
        run(home / "bin" / "python", "-m", "pip", "install", "-q", requirement)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "demo":
        ensure_venv("")
        return subprocess.call([str(BIN / "switchboard"), "demo", *argv[1:]], cwd=ROOT)
    if command == "test":
        ensure_venv("test")
        ensure_debian_packages()
        ensure_tools()
        run(BIN / "ruff", "check", ".")
        run(BIN / "ruff", "format", "--check", ".")
        run(BIN / "mypy")
        return subprocess.call([str(PYTHON), "-m", "pytest", *argv[1:]], cwd=ROOT)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
