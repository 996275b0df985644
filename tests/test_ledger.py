"""The ledger on both databases (SQLite and PostgreSQL): named, append-only migrations and
concurrent writers that lose no row."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading

import pytest

from lib import spend, storage
from lib.core import StorageError, now_iso
from lib.storage import Database

pytestmark = pytest.mark.usefixtures("backend")


def _row(i: int) -> spend.CallRecord:
    return spend.CallRecord(ts=now_iso(), page="test", provider="local",
                             model="m", attempts=1, status="ok", total_ms=1.0,
                             input_tokens=i, cost_micro=i)


def test_migrations_are_named_and_applied_once(tmp_path, backend, postgres_server):
    names = [name for name, _ in storage.MIGRATIONS]
    if backend.kind == "sqlite":
        db = Database.sqlite(tmp_path / "x.sqlite3")
    else:  # an empty database: the backend's own was copied from a migrated template
        db = Database.postgresql(postgres_server.fresh_database(migrated=False))
    try:
        assert db.migrate() == names
        assert db.migrate() == []
        with db.connect() as conn:
            applied = [r[0] for r in conn.execute(
                "SELECT name FROM schema_migrations ORDER BY name")]
        assert applied == sorted(names)
    finally:
        if db.kind == "postgresql":
            postgres_server.drop(str(db.location))
    if db.kind == "sqlite":
        with sqlite3.connect(db.location) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migration_names_are_unique_and_ordered():
    names = [name for name, _ in storage.MIGRATIONS]
    assert len(set(names)) == len(names) and names == sorted(names)


def test_the_database_is_the_one_handed_over(backend, data_dir):
    spend.record(backend, _row(7))
    assert spend.count_calls(backend) == 1
    assert (data_dir / "promptlab.sqlite3").exists() == (backend.kind == "sqlite")


def test_status_is_constrained(backend):
    bad = _row(1)
    bad.status = "maybe"
    with pytest.raises(StorageError, match="Database error"):
        spend.record(backend, bad)
    assert spend.count_calls(backend) == 0


def test_concurrent_threads_lose_no_row(backend):
    def write(start: int) -> None:
        for i in range(start, start + 50):
            spend.record(backend, _row(i))

    threads = [threading.Thread(target=write, args=(k * 50,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert spend.count_calls(backend) == 400
    assert spend.spend_since_micro(backend, "") == sum(range(400))


def _process_writer(db: Database, start: int) -> None:
    for i in range(start, start + 40):
        spend.record(db, _row(i))


def test_concurrent_processes_lose_no_row(backend):
    spend.count_calls(backend)
    ctx = multiprocessing.get_context("spawn")  # each child gets the handle, not settings
    procs = [ctx.Process(target=_process_writer, args=(backend, k * 40)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert spend.count_calls(backend) == 160
    assert spend.spend_since_micro(backend, "") == sum(range(160))
