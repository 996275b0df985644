"""The SQLite ledger: named, append-only migrations and concurrent writers."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading

from lib import db, ledger


def _row(i: int) -> ledger.CallRecord:
    return ledger.CallRecord(ts=ledger.now_iso(), page="test", provider="local",
                             model="m", attempts=1, status="ok", total_ms=1.0,
                             input_tokens=i, cost_micro=i)


def test_migrations_are_named_and_applied_once(tmp_path):
    path = tmp_path / "x.sqlite3"
    assert db.migrate(path) == [name for name, _ in db.MIGRATIONS]
    assert db.migrate(path) == []
    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert names == sorted(name for name, _ in db.MIGRATIONS)
    assert mode == "wal"


def test_migration_names_are_unique_and_ordered():
    names = [name for name, _ in db.MIGRATIONS]
    assert len(set(names)) == len(names) and names == sorted(names)


def test_status_is_constrained(tmp_path):
    path = tmp_path / "x.sqlite3"
    bad = _row(1)
    bad.status = "maybe"
    try:
        ledger.record(path, bad)
    except Exception as exc:
        assert "Database error" in str(exc)
    else:
        raise AssertionError("an unknown status must be refused")
    assert ledger.count(path) == 0


def test_concurrent_threads_lose_no_row(tmp_path):
    path = tmp_path / "x.sqlite3"
    ledger.count(path)

    def write(start: int) -> None:
        for i in range(start, start + 50):
            ledger.record(path, _row(i))

    threads = [threading.Thread(target=write, args=(k * 50,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ledger.count(path) == 400
    assert ledger.spend_since_micro(path, "") == sum(range(400))


def _process_writer(path: str, start: int) -> None:
    from pathlib import Path

    for i in range(start, start + 40):
        ledger.record(Path(path), _row(i))


def test_concurrent_processes_lose_no_row(tmp_path):
    path = tmp_path / "x.sqlite3"
    ledger.count(path)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(str(path), k * 40)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert ledger.count(path) == 160
