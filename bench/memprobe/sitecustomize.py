"""Diagnostic probe loaded into a gateway process through PYTHONPATH (bench/memory.py sets it):
every garbage collection timed by a `gc.callbacks` hook, and on SIGUSR1 a command read from
$MEMPROBE_DIR/cmd answered into $MEMPROBE_DIR/out.json (collections since the last report,
objects by type, cycle garbage under DEBUG_SAVEALL, tracemalloc top allocations)."""

from __future__ import annotations

import collections
import contextlib
import gc
import json
import os
import signal
import sys
import time
import tracemalloc

_DIR = os.environ.get("MEMPROBE_DIR", "")
_started = [0.0, 0.0]
_pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
_cpu: dict[int, list[float]] = {0: [], 1: [], 2: []}
_collected = [0, 0, 0]
_snapshot: list[tracemalloc.Snapshot] = []
_roots: list[tuple[str, int]] = []


def _callback(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
        _started[1] = time.thread_time()
    else:
        gen = info["generation"]
        _pauses[gen].append((time.perf_counter() - _started[0]) * 1000)
        _cpu[gen].append((time.thread_time() - _started[1]) * 1000)
        _collected[gen] += info["collected"]


def _rss() -> dict[str, float]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(line.split()[1]) / 1024
    return out


def _types(objects: list[object], top: int = 40) -> list[tuple[str, int]]:
    counts = collections.Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in objects)
    return counts.most_common(top)


def _name(o: object) -> str:
    t = type(o)
    name = f"{t.__module__}.{t.__qualname__}"
    if t.__name__ == "function":
        name += f"<{o.__qualname__}>"  # type: ignore[attr-defined]
    elif t.__name__ == "cell":
        with contextlib.suppress(ValueError):  # an empty cell
            name += f"<{_name(o.cell_contents)}>"  # type: ignore[attr-defined]
    elif t.__name__ == "frame":
        name += f"<{o.f_code.co_qualname}>"  # type: ignore[attr-defined]
    elif t.__name__ == "method":
        name += f"<{o.__qualname__}>"  # type: ignore[attr-defined]
    return name


def _cycles(garbage: list[object]) -> list[tuple[int, list[str]]]:
    """The strongly connected components of the garbage (the cycles themselves, not what
    hangs off them), grouped by the multiset of their members' types."""
    index = {id(o): i for i, o in enumerate(garbage)}
    edges = [[index[id(r)] for r in gc.get_referents(o) if id(r) in index] for o in garbage]
    n = len(garbage)
    order = [-1] * n
    low = [0] * n
    on = [False] * n
    stack: list[int] = []
    comps: list[list[int]] = []
    counter = 0
    for root in range(n):
        if order[root] != -1:
            continue
        work = [(root, 0)]
        order[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on[root] = True
        while work:
            v, i = work[-1]
            if i < len(edges[v]):
                work[-1] = (v, i + 1)
                w = edges[v][i]
                if order[w] == -1:
                    order[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on[w] = True
                    work.append((w, 0))
                elif on[w]:
                    low[v] = min(low[v], order[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == order[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on[w] = False
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1 or v in edges[v]:
                        comps.append(comp)
    referred = set()
    for targets in edges:
        referred.update(targets)
    roots = collections.Counter(_name(garbage[i]) for i in range(n) if i not in referred)
    _roots[:] = roots.most_common(15)
    shapes: collections.Counter[tuple[str, ...]] = collections.Counter()
    for comp in comps:
        kinds = collections.Counter(_name(garbage[i]) for i in comp)
        shapes[tuple(f"{n}x {k}" for k, n in sorted(kinds.items()))] += 1
    return [(n, list(shape)[:30]) for shape, n in shapes.most_common(15)]


def _trace(stat: tracemalloc.Statistic | tracemalloc.StatisticDiff) -> list[str]:
    return stat.traceback.format()[-8:]


def _handle(signum: int, frame: object) -> None:
    try:
        with open(os.path.join(_DIR, "cmd")) as f:
            command = f.read().strip()
        out: dict[str, object] = {"command": command, "rss": _rss()}
        if command.startswith("threshold "):
            gc.set_threshold(*(int(x) for x in command.split()[1:]))
            out["threshold"] = gc.get_threshold()
        elif command == "stats":  # collections since the last "stats"; resets them
            out["pauses"] = {
                g: {
                    "n": len(p),
                    "max_ms": max(p, default=0.0),
                    "sum_ms": sum(p),
                    "max_cpu_ms": max(_cpu[g], default=0.0),
                    "sum_cpu_ms": sum(_cpu[g]),
                }
                for g, p in _pauses.items()
            }
            out["collected"] = list(_collected)
            out["count"] = gc.get_count()
            out["threshold"] = gc.get_threshold()
            out["frozen"] = gc.get_freeze_count()
            for p in [*_pauses.values(), *_cpu.values()]:
                p.clear()
            _collected[:] = [0, 0, 0]
        elif command == "types":  # what the collector tracks now (young..old), by type
            objects = gc.get_objects()
            out["tracked"] = len(objects)
            out["by_gen"] = [len(gc.get_objects(g)) for g in range(3)]
            out["types"] = _types(objects)
            del objects
        elif command == "saveall_on":  # from now on, cycle garbage is kept in gc.garbage
            gc.collect()
            gc.garbage.clear()
            gc.set_debug(gc.DEBUG_SAVEALL)
        elif command == "saveall_off":  # what reference cycles became garbage since "on"
            gc.collect()
            garbage = list(gc.garbage)
            gc.set_debug(0)
            gc.garbage.clear()
            out["garbage"] = len(garbage)
            out["types"] = _types(garbage, 60)
            out["cycles"] = _cycles(garbage)
            out["roots"] = list(_roots)
            del garbage
        elif command == "tm_start":
            tracemalloc.start(int(os.environ.get("MEMPROBE_FRAMES", "8")))
            _snapshot[:] = [tracemalloc.take_snapshot()]
        elif command == "tm_diff":
            snap = tracemalloc.take_snapshot()
            filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
            snap = snap.filter_traces(filters)
            stats = snap.compare_to(_snapshot[0].filter_traces(filters), "traceback")
            out["top"] = [
                {
                    "size_kb": s.size_diff / 1024,
                    "count": s.count_diff,
                    "trace": s.traceback.format()[-8:],
                }
                for s in stats[:25]
            ]
            cur, peak = tracemalloc.get_traced_memory()
            out["traced_mb"] = [cur / 2**20, peak / 2**20]
        elif command.startswith("tm_top"):
            snap = tracemalloc.take_snapshot()
            group = command.split()[1] if " " in command else "traceback"
            out["top"] = [
                {"size_kb": t.size / 1024, "count": t.count, "trace": _trace(t)}
                for t in snap.statistics(group)[:30]
            ]
        elif command == "exceptions":  # live exceptions: type, depth, where raised
            found: collections.Counter[str] = collections.Counter()
            for o in gc.get_objects():
                if isinstance(o, BaseException):
                    tb = o.__traceback__
                    depth, where = 0, []
                    while tb is not None:
                        depth += 1
                        code = tb.tb_frame.f_code
                        where.append(f"{code.co_qualname}@{os.path.basename(code.co_filename)}")
                        tb = tb.tb_next
                    found[f"{type(o).__name__} depth={depth} " + " > ".join(where[-6:])] += 1
            out["exceptions"] = found.most_common(15)
        elif command == "contexts":  # live contexts holding a request's scope, and who holds them
            held: collections.Counter[str] = collections.Counter()
            import contextvars

            for o in gc.get_objects():
                if type(o) is contextvars.Context and any(
                    v.name == "switchboard_request_scope" and o[v] is not None for v in o
                ):
                    for r in gc.get_referrers(o):
                        desc = _name(r)
                        if type(r).__name__ in ("Handle", "TimerHandle"):
                            desc += f"<{r!r:.100}>"
                        elif type(r).__name__ == "Task":
                            desc += f"<{r.get_coro()!r:.80}>"
                        held[desc] += 1
                    for v in o:
                        held[f"  var {v.name} = {_name(o[v])}"] += 1
            out["contexts"] = held.most_common(30)
        elif command == "stacks":
            out["stacks"] = _stacks.most_common(10)
        elif command == "collect":
            out["collected"] = gc.collect()
        tmp = os.path.join(_DIR, "out.tmp")
        with open(tmp, "w") as f:
            f.write(json.dumps(out, default=str))
        os.replace(tmp, os.path.join(_DIR, "out.json"))
    except Exception as error:  # a probe must not take the process down
        print(f"memprobe: {error!r}", file=sys.stderr, flush=True)
        with open(os.path.join(_DIR, "out.json"), "w") as f:
            f.write(json.dumps({"error": repr(error)}))


_stacks: collections.Counter[str] = collections.Counter()


def _watch(spec: str) -> None:
    """MEMPROBE_WATCH=module:Class.method: count the call stacks that reach it."""
    import importlib
    import traceback

    module_name, attr = spec.split(":")
    owner: object = importlib.import_module(module_name)
    *path, name = attr.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, name)

    def watched(*args: object, **kwargs: object) -> object:
        stack = traceback.extract_stack(limit=14)[:-1]
        _stacks[
            " <- ".join(
                f"{f.name}@{os.path.basename(f.filename)}:{f.lineno}" for f in reversed(stack)
            )
        ] += 1
        return original(*args, **kwargs)

    setattr(owner, name, watched)


if _DIR:
    if os.environ.get("MEMPROBE_WATCH"):
        _watch(os.environ["MEMPROBE_WATCH"])
    gc.callbacks.append(_callback)
    signal.signal(signal.SIGUSR1, _handle)
