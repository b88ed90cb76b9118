"""Request ids (the audit trail's `requestId`) are version-4 UUIDs in hex, as before, though
read from random bytes in bulk (issue #18, round 5): never repeated, and never shared with a
forked worker (gateway/http/workers.py forks the serving processes)."""

from __future__ import annotations

import os
import sys
import threading
import uuid

from gateway.http.middleware import new_request_id


def test_ids_are_uuid4_hex_and_never_repeat() -> None:
    ids = [new_request_id() for _ in range(5000)]  # several refills of the pool
    assert len(set(ids)) == len(ids)
    for request_id in ids[:600]:
        parsed = uuid.UUID(hex=request_id)
        assert parsed.hex == request_id and parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_a_forked_worker_does_not_hand_out_its_parents_next_ids() -> None:
    new_request_id()  # the pool is filled: its next ids are the parent's
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child reports through the pipe)
        try:
            os.write(write, "".join(new_request_id() for _ in range(3)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        theirs = pipe.read().decode()
    os.waitpid(child, 0)
    ours = "".join(new_request_id() for _ in range(3))
    assert len(theirs) == 96 and theirs != ours


def test_servers_on_loops_in_other_threads_never_share_an_id() -> None:
    taken: list[list[str]] = [[] for _ in range(4)]
    start = threading.Barrier(len(taken))

    def take(into: list[str]) -> None:
        start.wait()
        into.extend(new_request_id() for _ in range(3000))

    threads = [threading.Thread(target=take, args=(into,)) for into in taken]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the threads take turns as often as they can
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    every = [request_id for into in taken for request_id in into]
    assert len(set(every)) == len(every) == 12000
