"""Connections and migrations for the database a `Database` handle names (lib/storage/database.py).

A target is a SQLite file (a Path: WAL, one writer at a time per process, on a lock) or a
PostgreSQL URL (a str: lib/storage/postgres.py). Both give the same interface: `execute` with
`?` placeholders, rows by index or column name, `lastrowid`, and write=True as one transaction
holding the database's write lock.

On SQLite each thread keeps its own connection per database (Streamlit runs sessions in their own
threads, and a sqlite3 connection must not be shared between them). Connections stay open:
closing the last one to a WAL database checkpoints and deletes the WAL, which costs
milliseconds on every write when done per operation.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lib.core import ConflictError, StorageError
from lib.storage import postgres
from lib.storage.ddl import statements
from lib.storage.migrations import MIGRATIONS

log = logging.getLogger(__name__)


_DUPLICATE = {"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}
_migrated: set[Path | str] = set()
_migrate_lock = threading.Lock()
_local = threading.local()
_write_locks: dict[Path, threading.Lock] = {}


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; fsync on checkpoint
    return conn


def _use_wal(conn: sqlite3.Connection, wait_s: float = 30.0) -> None:
    """Switch a database to WAL. The switch takes no busy timeout: processes opening a new
    database together see "locked" at once, so each tries again until the first has done it."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def migrate(target: Path | str, *, until: str | None = None) -> list[str]:
    """Apply migrations not yet applied to the database at `target`, in order (up to and
    including `until`, if given: how tests build an older database); return their names."""
    if isinstance(target, str):
        return postgres.migrate(target, MIGRATIONS, until)
    return _migrate_sqlite(target, until)


def _migrate_sqlite(path: Path, until: str | None) -> list[str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = _open(path)
    except sqlite3.Error as exc:
        raise StorageError(f"Could not open the database at {path}: {exc}") from exc
    try:
        _use_wal(conn)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                     "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT (datetime('now')))")
        done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
        applied = []
        for name, step in MIGRATIONS:
            if name in done:
                continue
            if callable(step):
                step(conn)
            else:  # statement by statement: executescript would COMMIT mid-transaction
                for statement in statements(step):
                    conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (name) VALUES (?)", (name,))
            applied.append(name)
            if name == until:
                break
        conn.execute("COMMIT")
        if applied:
            log.info("database %s: applied %s", path, ", ".join(applied))
        return applied
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        log.exception("database %s: migration failed", path)
        raise StorageError(f"Could not prepare the database at {path}: {exc}") from exc
    finally:
        conn.close()


@contextmanager
def connect(target: Path | str, *, write: bool = False) -> Iterator[Any]:
    """This thread's connection to the migrated database; write=True: one transaction that
    holds the write lock from its start (SQLite: BEGIN IMMEDIATE).

    Database errors become StorageError (ConflictError for a broken uniqueness rule).
    """
    if target not in _migrated:
        with _migrate_lock:
            if target not in _migrated:
                migrate(target)
                _migrated.add(target)
    if isinstance(target, str):
        with postgres.connect(target, write=write) as conn:
            yield conn
        return
    with _connect_sqlite(target, write) as conn:
        yield conn


def dispose(target: Path | str) -> None:
    """Close the pooled connections to `target` (PostgreSQL) and forget it was migrated."""
    if isinstance(target, str):
        postgres.dispose(target)
    with _migrate_lock:
        _migrated.discard(target)


@contextmanager
def _connect_sqlite(path: Path, write: bool) -> Iterator[sqlite3.Connection]:
    conns: dict[Path, sqlite3.Connection] = _local.__dict__.setdefault("conns", {})
    conn = conns.get(path)
    if conn is None:
        try:
            conn = conns[path] = _open(path)
        except sqlite3.Error as exc:
            raise StorageError(f"Could not open the database at {path}: {exc}") from exc
    begin = write and not conn.in_transaction  # nested in a write: join its transaction
    # This process's writers wait their turn on a lock, not in SQLite's busy handler, which
    # sleeps up to 100 ms between tries: under load those sleeps, not the work, held calls
    # up (bench_api: first-token p95 1 s, with the lock 0.3 s). Other processes still wait
    # on SQLite's own lock.
    lock = _write_locks.setdefault(path, threading.Lock()) if begin else None
    if lock is not None and not lock.acquire(timeout=30):
        raise StorageError(f"The database at {path} stayed locked for 30 s.")
    try:
        if begin:
            conn.execute("BEGIN IMMEDIATE")  # take the write lock now: no upgrade deadlocks
        yield conn
        if begin:
            conn.execute("COMMIT")
    except sqlite3.IntegrityError as exc:
        _rollback(conn)
        if getattr(exc, "sqlite_errorname", "") in _DUPLICATE:
            raise ConflictError(f"That would duplicate something already stored ({exc}).") \
                from exc
        log.exception("database %s: a constraint failed", path)
        raise StorageError(f"Database error: {exc}") from exc
    except sqlite3.Error as exc:
        _rollback(conn)
        log.exception("database %s: a statement failed", path)
        raise StorageError(f"Database error: {exc}") from exc
    except BaseException:
        _rollback(conn)
        raise
    finally:
        if lock is not None:
            lock.release()


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")
