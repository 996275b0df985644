"""The SQLite ledger: named, append-only migrations and concurrent writers."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading

import pytest

from lib import spend, storage
from lib.core import StorageError, now_iso


def _row(i: int) -> spend.CallRecord:
    return spend.CallRecord(ts=now_iso(), page="test", provider="local",
                             model="m", attempts=1, status="ok", total_ms=1.0,
                             input_tokens=i, cost_micro=i)


def test_migrations_are_named_and_applied_once(tmp_path):
    path = tmp_path / "x.sqlite3"
    assert storage.migrate(path) == [name for name, _ in storage.MIGRATIONS]
    assert storage.migrate(path) == []
    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert names == sorted(name for name, _ in storage.MIGRATIONS)
    assert mode == "wal"


def test_migration_names_are_unique_and_ordered():
    names = [name for name, _ in storage.MIGRATIONS]
    assert len(set(names)) == len(names) and names == sorted(names)


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
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(str(path), k * 40)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert spend.count_calls(path) == 160
