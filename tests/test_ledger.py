"""The ledger on both databases (SQLite and PostgreSQL): named, append-only migrations and
concurrent writers that lose no row."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading

import pytest

from lib import spend, storage
from lib.core import StorageError, get_settings, now_iso

pytestmark = pytest.mark.usefixtures("backend")


def _row(i: int) -> spend.CallRecord:
    return spend.CallRecord(ts=now_iso(), page="test", provider="local",
                             model="m", attempts=1, status="ok", total_ms=1.0,
                             input_tokens=i, cost_micro=i)


def test_migrations_are_named_and_applied_once(tmp_path, backend, postgres_server):
    names = [name for name, _ in storage.MIGRATIONS]
    if backend == "sqlite":
        path = tmp_path / "x.sqlite3"
    else:  # an empty database: the backend's own was copied from a migrated template
        path = postgres_server.fresh_database(migrated=False)
    try:
        assert storage.migrate(path) == names
        assert storage.migrate(path) == []
        with storage.connect(path) as conn:
            applied = [r[0] for r in conn.execute(
                "SELECT name FROM schema_migrations ORDER BY name")]
        assert applied == sorted(names)
    finally:
        if backend == "postgres":
            postgres_server.drop(path)
    if backend == "sqlite":
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migration_names_are_unique_and_ordered():
    names = [name for name, _ in storage.MIGRATIONS]
    assert len(set(names)) == len(names) and names == sorted(names)


def test_the_database_is_the_configured_one(tmp_path, backend):
    path = tmp_path / "x.sqlite3"
    spend.count_calls(path)
    if backend == "sqlite":
        assert storage.database(path) == path and path.exists()
    else:
        assert storage.database(path) == get_settings().database_url and not path.exists()


def test_status_is_constrained(tmp_path):
    path = tmp_path / "x.sqlite3"
    bad = _row(1)
    bad.status = "maybe"
    with pytest.raises(StorageError, match="Database error"):
        spend.record(path, bad)
    assert spend.count_calls(path) == 0


def test_concurrent_threads_lose_no_row(tmp_path):
    path = tmp_path / "x.sqlite3"
    spend.count_calls(path)

    def write(start: int) -> None:
        for i in range(start, start + 50):
            spend.record(path, _row(i))

    threads = [threading.Thread(target=write, args=(k * 50,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert spend.count_calls(path) == 400
    assert spend.spend_since_micro(path, "") == sum(range(400))


def _process_writer(path: str, start: int) -> None:
    from pathlib import Path

    for i in range(start, start + 40):
        spend.record(Path(path), _row(i))


def test_concurrent_processes_lose_no_row(tmp_path):
    path = tmp_path / "x.sqlite3"
    spend.count_calls(path)
    ctx = multiprocessing.get_context("spawn")  # children inherit PROMPTLAB_DATABASE_URL
    procs = [ctx.Process(target=_process_writer, args=(str(path), k * 40)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert spend.count_calls(path) == 160
    assert spend.spend_since_micro(path, "") == sum(range(160))
