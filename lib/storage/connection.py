"""The one SQLite database (WAL): this thread's connection, and applying migrations.

Each thread keeps its own connection per database (Streamlit runs sessions in their own
threads, and a sqlite3 connection must not be shared between them). Connections stay open:
closing the last one to a WAL database checkpoints and deletes the WAL, which costs
milliseconds on every write when done per operation.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lib.core import ConflictError, StorageError
from lib.storage.migrations import MIGRATIONS

log = logging.getLogger(__name__)


def _statements(sql: str) -> list[str]:
    """Split a migration into statements, keeping a trigger's BEGIN ... END; body whole."""
    out, current = [], []
    for part in sql.split(";"):
        current.append(part)
        joined = ";".join(current)
        if not joined.strip():
            current = []
            continue
        if re.search(r"\bCREATE\s+TRIGGER\b", joined, re.IGNORECASE) and not re.search(
                r"\bEND\s*$", joined.strip(), re.IGNORECASE):
            continue
        out.append(joined.strip())
        current = []
    return [s for s in out if s]


_DUPLICATE = {"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}
_migrated: set[Path] = set()
_migrate_lock = threading.Lock()
_local = threading.local()


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


def migrate(path: Path, *, until: str | None = None) -> list[str]:
    """Apply migrations not yet applied to the database at `path`, in order (up to and
    including `until`, if given: how tests build an older database); return their names."""
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
                for statement in _statements(step):
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
def connect(path: Path, *, write: bool = False) -> Iterator[sqlite3.Connection]:
    """This thread's connection to a migrated database; write=True: one IMMEDIATE transaction.

    sqlite3 errors become StorageError (ConflictError for a broken uniqueness rule).
    """
    if path not in _migrated:
        with _migrate_lock:
            if path not in _migrated:
                migrate(path)
                _migrated.add(path)
    conns: dict[Path, sqlite3.Connection] = _local.__dict__.setdefault("conns", {})
    conn = conns.get(path)
    if conn is None:
        try:
            conn = conns[path] = _open(path)
        except sqlite3.Error as exc:
            raise StorageError(f"Could not open the database at {path}: {exc}") from exc
    try:
        if write:
            conn.execute("BEGIN IMMEDIATE")  # take the write lock now: no upgrade deadlocks
        yield conn
        if write:
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


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")
