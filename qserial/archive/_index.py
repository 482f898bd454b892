"""The archive's index: one SQLite database in WAL mode.

Why SQLite: it is in the standard library (no dependency), readers never block the
writer nor each other in WAL mode, several processes may write (each write is a
short ``BEGIN IMMEDIATE`` transaction; the others wait up to ``busy_timeout``), and a
query over tens of thousands of rows with the indexes below takes well under a
millisecond of SQL. The index is a cache of what the files' manifests say: it can be
rebuilt from them (:meth:`qserial.Archive.reindex`).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from .._atomic import process_exists

__all__ = ["Index", "FINAL_STATUSES"]

SCHEMA_VERSION = 1
FINAL_STATUSES = ("DONE", "CANCELLED", "ERROR")
#: Seconds a writer waits for another process's transaction before giving up.
BUSY_TIMEOUT = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    job_id     TEXT PRIMARY KEY,
    backend    TEXT,
    program_id TEXT,
    instance   TEXT,
    session_id TEXT,
    status     TEXT,
    created    REAL,             -- creation date, seconds since the epoch (UTC)
    tags       TEXT NOT NULL,    -- JSON list
    path       TEXT NOT NULL,    -- file, relative to the archive root, '/'-separated
    format     TEXT NOT NULL,
    size       INTEGER,
    provenance TEXT NOT NULL,    -- JSON, as in the file's manifest
    labels     TEXT NOT NULL,    -- JSON
    archived   REAL NOT NULL
);
-- Each index ends in the sort order (created, job_id): no sorting step, and skipping
-- rows walks the index alone.
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created, job_id);
CREATE INDEX IF NOT EXISTS jobs_backend ON jobs (backend, created, job_id);
CREATE INDEX IF NOT EXISTS jobs_program ON jobs (program_id, created, job_id);
CREATE INDEX IF NOT EXISTS jobs_session ON jobs (session_id, created, job_id);
CREATE TABLE IF NOT EXISTS job_tags (
    tag    TEXT NOT NULL,
    job_id TEXT NOT NULL,
    PRIMARY KEY (tag, job_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS job_tags_job ON job_tags (job_id);
-- A sync process claims a job before fetching it, so two processes never fetch the same.
CREATE TABLE IF NOT EXISTS claims (
    job_id TEXT PRIMARY KEY,
    host   TEXT NOT NULL,
    pid    INTEGER NOT NULL,
    at     REAL NOT NULL
);
"""

_COLUMNS = ("job_id", "backend", "program_id", "instance", "session_id", "status", "created",
            "tags", "path", "format", "size", "provenance", "labels", "archived")
_SELECT = ", ".join(_COLUMNS)


class Index:
    """The SQLite index of an archive (see the module docstring).

    Parameters
    ----------
    path
        The database file; created with its folder if missing.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        # Autocommit mode: every write below opens its own BEGIN IMMEDIATE transaction.
        self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None,
                                   check_same_thread=False)
        self._lock = threading.RLock()
        with self._lock:
            self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
            self._switch_to_wal()
            # In WAL mode NORMAL loses no committed row on a process crash, only possibly
            # the last ones on a power cut: the files are durable and reindex() finds them.
            self._db.execute("PRAGMA synchronous = NORMAL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                from ..errors import UnsupportedVersionError

                raise UnsupportedVersionError(
                    f"the archive index {path} has schema version {version}; this qserial "
                    f"reads up to {SCHEMA_VERSION}: upgrade qserial")
            if version < SCHEMA_VERSION:
                with self._write():
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _switch_to_wal(self) -> None:
        # Switching a new database to WAL needs an exclusive lock that SQLite takes without
        # waiting (busy_timeout does not apply), so processes opening a new archive at the
        # same moment get "database is locked": retry until the first one has switched.
        deadline = time.monotonic() + BUSY_TIMEOUT
        while True:
            try:
                self._db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)

    # -- transactions ------------------------------------------------------------------

    def _write(self) -> _Transaction:
        return _Transaction(self._db, self._lock)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    # -- meta --------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta_default(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` unless a value is there; return the stored one."""
        with self._write():
            self._db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, value))
            return self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]

    # -- rows --------------------------------------------------------------------------

    def put(self, row: dict[str, Any], tags: Sequence[str]) -> None:
        """Insert or replace a job's row and tags, and drop its claim, in one transaction."""
        values = tuple(row[c] for c in _COLUMNS)
        with self._write():
            self._db.execute(
                f"INSERT OR REPLACE INTO jobs ({', '.join(_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_COLUMNS))})", values)
            self._db.execute("DELETE FROM job_tags WHERE job_id = ?", (row["job_id"],))
            self._db.executemany("INSERT OR IGNORE INTO job_tags VALUES (?, ?)",
                                 [(t, row["job_id"]) for t in tags])
            self._db.execute("DELETE FROM claims WHERE job_id = ?", (row["job_id"],))

    def put_many(self, rows: Iterable[tuple[dict[str, Any], Sequence[str]]]) -> None:
        """Insert many rows in one transaction (reindexing, benchmarks)."""
        with self._write():
            for row, tags in rows:
                self._db.execute(
                    f"INSERT OR REPLACE INTO jobs ({', '.join(_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(_COLUMNS))})", tuple(row[c] for c in _COLUMNS))
                self._db.execute("DELETE FROM job_tags WHERE job_id = ?", (row["job_id"],))
                self._db.executemany("INSERT OR IGNORE INTO job_tags VALUES (?, ?)",
                                     [(t, row["job_id"]) for t in tags])

    def remove(self, job_id: str) -> None:
        with self._write():
            self._db.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))
            self._db.execute("DELETE FROM job_tags WHERE job_id = ?", (job_id,))

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_SELECT} FROM jobs WHERE job_id = ?",
                                   (job_id,)).fetchone()
        return None if row is None else dict(zip(_COLUMNS, row, strict=True))

    def with_prefix(self, prefix: str, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` rows whose job id starts with ``prefix``, in id order."""
        # A range on the primary key (not LIKE, whose _ and % are wildcards and which
        # ignores case): every id starting with the prefix sorts between the two bounds.
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_SELECT} FROM jobs WHERE job_id >= ? AND job_id < ? "
                "ORDER BY job_id LIMIT ?", (prefix, prefix + "\U0010ffff", limit)).fetchall()
        return [dict(zip(_COLUMNS, r, strict=True)) for r in rows]

    def has(self, job_id: str) -> bool:
        with self._lock:
            return self._db.execute(
                "SELECT 1 FROM jobs WHERE job_id = ?", (job_id,)).fetchone() is not None

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM jobs").fetchone()[0]

    def paths(self) -> dict[str, str]:
        """Map each indexed file path to its job id."""
        with self._lock:
            return dict(self._db.execute("SELECT path, job_id FROM jobs").fetchall())

    def query(
        self,
        *,
        limit: int | None,
        skip: int,
        backend_name: str | None,
        pending: bool | None,
        program_id: str | None,
        instance: str | None,
        job_tags: Sequence[str] | None,
        session_id: str | None,
        created_after: float | None,
        created_before: float | None,
        descending: bool,
    ) -> list[dict[str, Any]]:
        """Rows matching QiskitRuntimeService.jobs' filters, newest first by default."""
        where: list[str] = []
        args: list[Any] = []
        for column, value in (("backend", backend_name), ("program_id", program_id),
                              ("instance", instance), ("session_id", session_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if pending is not None:
            final = ", ".join("?" * len(FINAL_STATUSES))
            where.append(f"status {'NOT IN' if pending else 'IN'} ({final})")
            args.extend(FINAL_STATUSES)
        if created_after is not None:
            where.append("created >= ?")
            args.append(created_after)
        if created_before is not None:
            where.append("created <= ?")
            args.append(created_before)
        if job_tags:
            tags = sorted(set(job_tags))
            where.append(
                f"job_id IN (SELECT job_id FROM job_tags WHERE tag IN "
                f"({', '.join('?' * len(tags))}) GROUP BY job_id HAVING count(*) = ?)")
            args.extend([*tags, len(tags)])
        order = f"ORDER BY created {'DESC' if descending else 'ASC'}, " \
                f"job_id {'DESC' if descending else 'ASC'}"
        # Pick the rowids first (through an index when one fits), then read only the
        # rows returned: skipped rows are never read whole.
        sql = (f"SELECT {_SELECT} FROM jobs WHERE rowid IN (SELECT rowid FROM jobs "
               f"{'WHERE ' + ' AND '.join(where) if where else ''} {order} LIMIT ? OFFSET ?) "
               f"{order}")
        args.extend([-1 if limit is None else limit, skip])
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [dict(zip(_COLUMNS, r, strict=True)) for r in rows]

    # -- claims ------------------------------------------------------------------------

    def claim(self, job_id: str, ttl: float) -> str:
        """Claim ``job_id`` for this process before fetching it.

        Returns ``"ok"`` (claimed), ``"archived"`` (already in the index) or ``"busy"``
        (a live process claimed it less than ``ttl`` seconds ago). A claim of a dead
        process on this host, or an older one, is taken over.
        """
        host, pid, now = socket.gethostname(), os.getpid(), time.time()
        with self._write():
            if self._db.execute("SELECT 1 FROM jobs WHERE job_id = ?", (job_id,)).fetchone():
                return "archived"
            row = self._db.execute(
                "SELECT host, pid, at FROM claims WHERE job_id = ?", (job_id,)).fetchone()
            if row is not None and (row[0], row[1]) != (host, pid):
                fresh = now - row[2] < ttl
                if fresh and (row[0] != host or process_exists(row[1])):
                    return "busy"
            self._db.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?)",
                             (job_id, host, pid, now))
        return "ok"

    def release(self, job_id: str) -> None:
        """Drop this process's claim on ``job_id`` (after a failed fetch)."""
        with self._write():
            self._db.execute("DELETE FROM claims WHERE job_id = ? AND host = ? AND pid = ?",
                             (job_id, socket.gethostname(), os.getpid()))

    def integrity_check(self) -> str:
        """SQLite's own check of the database file: ``"ok"`` when sound."""
        with self._lock:
            return self._db.execute("PRAGMA integrity_check").fetchone()[0]


class _Transaction:
    # BEGIN IMMEDIATE takes the write lock at once, so a transaction never fails halfway
    # with SQLITE_BUSY after reading: it waits (busy_timeout) or fails before any change.
    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self.db, self.lock = db, lock

    def __enter__(self) -> None:
        self.lock.acquire()
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.lock.release()
            raise

    def __exit__(self, kind: Any, *_: Any) -> None:
        try:
            self.db.execute("COMMIT" if kind is None else "ROLLBACK")
        finally:
            self.lock.release()


def loads_list(text: str) -> list[Any]:
    """A JSON list column's value (``[]`` for anything else)."""
    value = json.loads(text) if text else []
    return value if isinstance(value, list) else []
