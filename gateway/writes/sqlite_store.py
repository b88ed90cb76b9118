"""The embedded outbox: one SQLite file in WAL mode, for one gateway process.

sqlite3 blocks, so every statement runs on one dedicated thread (a single-worker executor that
owns the connection): the event loop never waits on the disk, and the statements of this
process are serialised without a lock of ours. A caller cancelled while its statement runs
leaves the statement to finish or roll back whole — every change is one transaction — so the
file is consistent on every exit path, a SIGKILL included (WAL + synchronous=FULL: a write
acknowledged as PENDING has reached the disk).

A record this version cannot read (UnreadableRecord) is set aside by the read that meets it:
its row's status becomes UNREADABLE (out of the outbox and the dead letters, its raw record kept
where it is) and the table `unreadable` says when and why — so one such row never fails a claim,
a listing or a replay. Final and set-aside rows are purged retention_hours after they were
settled or set aside, PENDING ones never.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from gateway.writes.model import Unreadable, UnreadableRecord, WriteRecord
from gateway.writes.store import log_set_aside

__all__ = ["SqliteStore"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS writes (
    write_id   TEXT PRIMARY KEY,
    idem       TEXT NOT NULL UNIQUE,
    status     TEXT NOT NULL,
    dead       INTEGER NOT NULL DEFAULT 0,
    next_at    REAL NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    record     BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS writes_due ON writes (status, next_at);
CREATE INDEX IF NOT EXISTS writes_dead ON writes (dead, updated_at);
CREATE TABLE IF NOT EXISTS unreadable (
    write_id     TEXT PRIMARY KEY,
    reason       TEXT NOT NULL,
    set_aside_at REAL NOT NULL
);
"""


class SqliteStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._executor = _thread()
        self._shut = False
        self._db: sqlite3.Connection | None = None
        self._opened = False

    async def _run(
        self, work: Callable[[sqlite3.Connection], T], absent: Callable[[], T] | None = None
    ) -> T:
        """`work` on the store's thread. The file is made by the first reservation: a gateway
        that never writes leaves no outbox behind, and until then a read (`absent` given)
        answers `absent()`."""

        def call() -> T:
            if not self._opened:
                raise RuntimeError("the outbox is not open")
            if self._db is None:
                if absent is not None and not Path(self.path).exists():
                    return absent()
                self._connect()
            assert self._db is not None
            return work(self._db)

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _connect(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(_SCHEMA)
        self._db = db

    async def open(self) -> None:
        if self._shut:  # reopened after aclose()
            self._executor, self._shut = _thread(), False
        self._opened = True

    async def aclose(self) -> None:
        self._opened = False

        def close() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._executor, close)
        self._executor.shutdown(wait=False)  # idle now: never block the loop joining it
        self._shut = True

    async def reserve(self, record: WriteRecord) -> WriteRecord | None:
        def reserve(db: sqlite3.Connection) -> WriteRecord | None:
            with _transaction(db):
                inserted = db.execute(
                    "INSERT INTO writes VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (idem) DO NOTHING",
                    _row(record),
                ).rowcount
                if inserted:
                    return None
                row = db.execute("SELECT record FROM writes WHERE idem = ?", (record.idem,))
                return WriteRecord.from_json(row.fetchone()[0])

        return await self._run(reserve)

    async def get(self, write_id: str) -> WriteRecord | None:
        def get(db: sqlite3.Connection) -> WriteRecord | None:
            row = db.execute("SELECT record FROM writes WHERE write_id = ?", (write_id,)).fetchone()
            return None if row is None else WriteRecord.from_json(row[0])

        return await self._run(get, lambda: None)

    async def settle(self, record: WriteRecord) -> bool:
        return await self._run(lambda db: _update_pending(db, record), lambda: False)

    async def defer(self, record: WriteRecord) -> bool:
        return await self._run(lambda db: _update_pending(db, record), lambda: False)

    async def claim(self, now: float, lease: float, limit: int) -> list[WriteRecord]:
        def claim(db: sqlite3.Connection) -> _Read:
            with _transaction(db):
                rows = db.execute(
                    "SELECT write_id, record FROM writes WHERE status = 'PENDING'"
                    " AND next_at <= ? ORDER BY next_at LIMIT ?",
                    (now, limit),
                ).fetchall()
                read = _read(db, rows, now)
                taken = [replace(r, next_at=now + lease) for r in read.records]
                db.executemany(
                    "UPDATE writes SET next_at = ?, record = ? WHERE write_id = ?",
                    [(r.next_at, r.to_json(), r.write_id) for r in taken],
                )
                return _Read(taken, read.set_aside)

        return _logged(await self._run(claim, _Read.none))

    async def dead_letters(self, limit: int) -> list[WriteRecord]:
        def dead(db: sqlite3.Connection) -> _Read:
            with _transaction(db):
                rows = db.execute(
                    "SELECT write_id, record FROM writes WHERE dead = 1 AND status = 'REJECTED'"
                    " ORDER BY updated_at DESC LIMIT ?",
                    (limit,),
                ).fetchall()
                return _read(db, rows, time.time())

        return _logged(await self._run(dead, _Read.none))

    async def unreadable(self, limit: int) -> list[Unreadable]:
        def unreadable(db: sqlite3.Connection) -> list[Unreadable]:
            rows = db.execute(
                "SELECT write_id, reason, set_aside_at FROM unreadable"
                " ORDER BY set_aside_at DESC LIMIT ?",
                (limit,),
            ).fetchall()
            return [Unreadable(str(i), str(why), float(at)) for i, why, at in rows]

        return await self._run(unreadable, list)

    async def requeue(self, write_id: str, now: float) -> WriteRecord | None:
        def requeue(db: sqlite3.Connection) -> _Read:
            with _transaction(db):
                rows = db.execute(
                    "SELECT write_id, record FROM writes WHERE write_id = ? AND dead = 1"
                    " AND status = 'REJECTED'",
                    (write_id,),
                ).fetchall()
                read = _read(db, rows, now)
                if not read.records:
                    return read
                again = read.records[0].requeued(now)
                db.execute(
                    "UPDATE writes SET status = ?, dead = 0, next_at = ?, created_at = ?,"
                    " updated_at = ?, record = ? WHERE write_id = ?",
                    (again.status, now, now, now, again.to_json(), write_id),
                )
                return _Read([again], [])

        found = _logged(await self._run(requeue, _Read.none))
        return found[0] if found else None

    async def purge(self, before: float) -> int:
        def purge(db: sqlite3.Connection) -> int:
            # by when it was settled or set aside: a dead letter made at max_age stays listed
            # retention_hours, as it does in Redis
            with _transaction(db):
                db.execute("DELETE FROM unreadable WHERE set_aside_at < ?", (before,))
                return db.execute(
                    "DELETE FROM writes WHERE updated_at < ? AND status != 'PENDING'", (before,)
                ).rowcount

        return await self._run(purge, lambda: 0)

    async def oldest_pending(self) -> float | None:
        def oldest(db: sqlite3.Connection) -> float | None:
            row = db.execute(
                "SELECT min(created_at) FROM writes WHERE status = 'PENDING'"
            ).fetchone()
            return None if row[0] is None else float(row[0])

        return await self._run(oldest, lambda: None)

    async def pending(self) -> int:
        def count(db: sqlite3.Connection) -> int:
            row = db.execute("SELECT count(*) FROM writes WHERE status = 'PENDING'").fetchone()
            return int(row[0])

        return await self._run(count, lambda: 0)

    async def unreadable_count(self) -> int:
        def count(db: sqlite3.Connection) -> int:
            return int(db.execute("SELECT count(*) FROM unreadable").fetchone()[0])

        return await self._run(count, lambda: 0)


@dataclass(frozen=True, slots=True)
class _Read:
    """Records read on the store's thread, and those set aside (write id, why) on the way: logged
    on the event loop's side, after their transaction committed."""

    records: list[WriteRecord]
    set_aside: list[tuple[str, str]]

    @classmethod
    def none(cls) -> _Read:
        return cls([], [])


def _read(db: sqlite3.Connection, rows: list[tuple[str, bytes]], now: float) -> _Read:
    """The (write_id, record) rows read; one that cannot be read is set aside (in the caller's
    transaction), once: a row set aside already is UNREADABLE and no query here meets it again."""
    records: list[WriteRecord] = []
    set_aside: list[tuple[str, str]] = []
    for write_id, raw in rows:
        try:
            records.append(WriteRecord.from_json(raw))
        except UnreadableRecord as exc:
            db.execute(
                "UPDATE writes SET status = 'UNREADABLE', dead = 0, updated_at = ?"
                " WHERE write_id = ?",
                (now, write_id),
            )
            db.execute(
                "INSERT INTO unreadable VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (write_id, str(exc), now),
            )
            set_aside.append((write_id, str(exc)))
    return _Read(records, set_aside)


def _logged(read: _Read) -> list[WriteRecord]:
    for write_id, why in read.set_aside:
        log_set_aside(write_id, why)
    return read.records


def _thread() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="writes-sqlite")


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any exception (the connection is in autocommit
    mode, so nothing else opens transactions behind our back)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def _row(r: WriteRecord) -> tuple[object, ...]:
    return (
        r.write_id,
        r.idem,
        r.status,
        int(r.dead),
        r.next_at,
        r.created_at,
        r.updated_at,
        r.to_json(),
    )


def _update_pending(db: sqlite3.Connection, r: WriteRecord) -> bool:
    changed = db.execute(
        "UPDATE writes SET status = ?, dead = ?, next_at = ?, updated_at = ?, record = ?"
        " WHERE write_id = ? AND status = 'PENDING'",
        (r.status, int(r.dead), r.next_at, r.updated_at, r.to_json(), r.write_id),
    ).rowcount
    return changed == 1
