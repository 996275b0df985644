"""The database on PostgreSQL (PROMPTLAB_DATABASE_URL): pooled connections, the same named
migrations, and SQLite's guarantees.

A write (`connect(..., write=True)`) is one transaction that first takes a database-wide
advisory lock, as SQLite's BEGIN IMMEDIATE takes its write lock: one writer at a time, so a
budget reservation's check-then-insert can never interleave with another's (concurrent calls
never overshoot), and every read-then-write the app does on SQLite stays correct here. Reads
run in autocommit, each statement seeing what is committed. A `connect` nested inside another
on the same thread uses the outer one's connection (and transaction), as SQLite's
per-thread connection does.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from lib.core import ConflictError, StorageError
from lib.storage.ddl import PRELUDE, pg_body
from lib.storage.migrations import Step
from lib.storage.pg_shape import PgConnection, adapters, cursor_class, rows

log = logging.getLogger(__name__)

WRITE_LOCK = 7_142_001     # pg_advisory_xact_lock key: the one writer, like SQLite's
MIGRATE_LOCK = 7_142_002   # pg_advisory_lock key: one process migrates at a time
POOL_SIZE = 16             # per process; a write holds the lock, so more would only wait
LOCK_TIMEOUT = "30s"       # how long a writer waits for the lock (SQLite's busy timeout)

_pools: dict[str, Any] = {}
_identity: dict[str, frozenset[str]] = {}
_lock = threading.Lock()
_local = threading.local()


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(url)
    except Exception:  # an unparsable URL: say nothing of it
        log.debug("unparsable database URL", exc_info=True)
        return "postgresql://?"
    return (f"postgresql://{info.get('host', '')}:{info.get('port', '5432')}/"
            f"{info.get('dbname', '')}")


def _configure(raw: Any) -> None:
    raw.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")


def _open(url: str) -> Any:
    import psycopg

    raw = psycopg.Connection.connect(url, autocommit=True, context=adapters(),
                                     row_factory=rows, cursor_factory=cursor_class(),
                                     connect_timeout=10)
    _configure(raw)
    return raw


def _pool(url: str) -> Any:
    with _lock:
        pool = _pools.get(url)
        if pool is None:
            from psycopg_pool import ConnectionPool

            pool = _pools[url] = ConnectionPool(
                url, min_size=1, max_size=POOL_SIZE, open=True, timeout=30,
                name=redact(url), configure=_configure, check=ConnectionPool.check_connection,
                kwargs={"autocommit": True, "context": adapters(), "row_factory": rows,
                        "cursor_factory": cursor_class(), "connect_timeout": 10})
        return pool


def dispose(url: str | None = None) -> None:
    """Close the pool for `url` (every pool: None), e.g. before dropping a database."""
    with _lock:
        urls = list(_pools) if url is None else [url]
        pools = [_pools.pop(u) for u in urls if u in _pools]
        for u in urls:
            _identity.pop(u, None)
    for pool in pools:
        pool.close()


def _identity_tables(raw: Any) -> frozenset[str]:
    return frozenset(r[0] for r in raw.execute(
        "SELECT table_name FROM information_schema.columns WHERE column_name = 'id' "
        "AND is_identity = 'YES' AND table_schema = current_schema()"))


def migrate(url: str, migrations: Sequence[tuple[str, Step]], until: str | None) -> list[str]:
    """Apply the named migrations not yet applied, in one transaction (PostgreSQL's DDL is
    transactional), under a lock so two processes starting together apply each once."""
    import psycopg

    try:
        raw = _open(url)
    except psycopg.Error as exc:
        raise StorageError(f"Could not open the database at {redact(url)}: {exc}") from exc
    try:
        raw.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
        applied: list[str] = []
        with raw.transaction():
            raw.execute(PRELUDE)
            done = {r[0] for r in raw.execute("SELECT name FROM schema_migrations")}
            for name, step in migrations:
                if name in done:
                    continue
                body = pg_body(name, step)
                if callable(body):
                    body(PgConnection(raw, _identity_tables(raw)))
                else:
                    raw.execute(body)
                raw.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
                applied.append(name)
                if name == until:
                    break
        with _lock:
            _identity[url] = _identity_tables(raw)
        if applied:
            log.info("database %s: applied %s", redact(url), ", ".join(applied))
        return applied
    except psycopg.Error as exc:
        log.error("database %s: migration failed: %s\n%s", redact(url), primary(exc),
                  "".join(traceback.format_tb(exc.__traceback__)))
        raise StorageError(f"Could not prepare the database at {redact(url)}: "
                           f"{primary(exc)}") from None
    finally:
        raw.close()


@contextmanager
def _transaction(conn: PgConnection, write: bool) -> Iterator[None]:
    if not write or conn.in_transaction:
        yield
        return
    with conn.raw.transaction():
        conn.raw.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        yield


@contextmanager
def connect(url: str, *, write: bool) -> Iterator[PgConnection]:
    """A pooled connection to a migrated database; write=True: one locked transaction."""
    import psycopg
    from psycopg_pool import PoolTimeout

    active: dict[str, PgConnection] = _local.__dict__.setdefault("active", {})
    try:
        outer = active.get(url)
        if outer is not None:
            with _transaction(outer, write):
                yield outer
            return
        with _pool(url).connection() as raw:
            conn = active[url] = PgConnection(raw, _identity.get(url, frozenset()))
            try:
                with _transaction(conn, write):
                    yield conn
            finally:
                del active[url]
    except PoolTimeout as exc:
        raise StorageError(f"The database at {redact(url)} is busy or unreachable.",
                           hint="Try again in a moment.") from exc
    # Only the primary message is kept: PostgreSQL's DETAIL quotes the row's values (a
    # message's text, say), which must not reach a page or a log; SQLite's errors never do.
    except psycopg.errors.UniqueViolation as exc:
        raise ConflictError(f"That would duplicate something already stored "
                            f"({primary(exc)}).") from None
    except psycopg.errors.LockNotAvailable:
        raise StorageError("The database is busy: another write held it for "
                           f"{LOCK_TIMEOUT}.", hint="Try again in a moment.") from None
    except psycopg.Error as exc:
        log.error("database %s: a statement failed: %s\n%s", redact(url), primary(exc),
                  "".join(traceback.format_tb(exc.__traceback__)))
        raise StorageError(f"Database error: {primary(exc)}") from None


def primary(exc: Exception) -> str:
    """A psycopg error's first line, without the DETAIL that quotes values."""
    diag = getattr(exc, "diag", None)
    return (diag.message_primary if diag is not None else None) or str(exc).split("\n")[0]
