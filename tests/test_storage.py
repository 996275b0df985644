"""The storage interface, the same on SQLite and on PostgreSQL: `?` placeholders, rows by name,
lastrowid, errors, one writer at a time, nested connections, and migrations on start."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time

import pytest

from lib import spend, storage
from lib.core import ConfigError, ConflictError, StorageError, load_settings
from lib.storage import Database

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def db(backend):
    """The test's database: SQLite, then PostgreSQL."""
    return backend


def test_placeholders_rows_and_lastrowid(db):
    with db.connect(write=True) as conn:
        cur = conn.execute("INSERT INTO conversations (title, created_at, updated_at) "
                           "VALUES (?, ?, ?)", ("100% sure? yes", "t0", "t0"))
        first = cur.lastrowid
        second = conn.execute("INSERT INTO conversations (title, created_at, updated_at) "
                              "VALUES (?, 't1', 't1')", ("x",)).lastrowid
    assert isinstance(first, int) and second == first + 1
    with db.connect() as conn:
        row = conn.execute("SELECT id, title, 'it''s 50%?' AS lit FROM conversations "
                           "WHERE id = ? AND title LIKE '100%'", (first,)).fetchone()
        explicit = conn.execute("SELECT COUNT(*) AS n FROM conversations").fetchone()
    assert row["title"] == row[1] == "100% sure? yes" and row["lit"] == "it's 50%?"
    assert dict(row) == {"id": first, "title": "100% sure? yes", "lit": "it's 50%?"}
    assert list(row.keys()) == ["id", "title", "lit"] and next(iter(row)) == first
    assert explicit["n"] == 2


def test_sums_are_ints_and_bools_are_stored_as_numbers(db):
    with db.connect(write=True) as conn:
        conn.executemany("INSERT INTO budgets (scope, period, limit_micro) VALUES (?, ?, ?)",
                         [("a", "day", 2), ("b", "day", True)])
        total, mean = conn.execute("SELECT SUM(limit_micro), AVG(limit_micro) "
                                   "FROM budgets").fetchone()
    assert (total, type(total)) == (3, int) and mean == pytest.approx(1.5)


def test_sqlite_json_functions_work_on_both(db):
    with db.connect() as conn:
        got = conn.execute("SELECT json_extract(?, '$.a.b'), json_array_length(?)",
                           ('{"a": {"b": "x"}}', "[1, 2, 3]")).fetchone()
    assert tuple(got) == ("x", 3)


def test_a_duplicate_is_a_conflict_and_a_failed_write_leaves_nothing(db):
    insert = "INSERT INTO budgets (scope, period, limit_micro) VALUES (?, ?, 1)"
    with pytest.raises(ConflictError), db.connect(write=True) as conn:
        conn.execute(insert, ("x", "day"))
        conn.execute(insert, ("x", "day"))
    with pytest.raises(StorageError, match="Database error"), \
            db.connect(write=True) as conn:
        conn.execute(insert, ("y", "day"))
        conn.execute(insert, ("z", "year"))  # breaks the period's CHECK
    with db.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM budgets").fetchone()[0] == 0


def test_a_failed_write_names_no_stored_text(db, caplog):
    """PostgreSQL's error DETAIL quotes the failing row: neither a page nor a log sees it."""
    from lib import chat

    conv = chat.create_conversation(db, title="t")
    with pytest.raises(StorageError) as info, db.connect(write=True) as conn:
        conn.execute("INSERT INTO messages (conversation_id, role, content, created_at) "
                     "VALUES (?, 'system', 'the secret plan', 't')", (conv,))
    assert "secret" not in str(info.value) and "secret" not in repr(info.value.__cause__)
    assert "secret" not in caplog.text


def test_a_nested_connection_is_the_outer_one(db):
    with db.connect(write=True) as outer:
        outer.execute("INSERT INTO budgets (scope, period, limit_micro) VALUES ('n', 'day', 1)")
        with db.connect() as inner:  # sees the write not yet committed
            assert inner.execute("SELECT COUNT(*) FROM budgets").fetchone()[0] == 1
        with db.connect(write=True) as inner:  # joins the transaction
            inner.execute("UPDATE budgets SET limit_micro = 5")
    with db.connect() as conn:
        assert conn.execute("SELECT limit_micro FROM budgets").fetchone()[0] == 5


def test_one_writer_at_a_time_from_the_start_of_its_transaction(db):
    """A read-then-write (a budget check) cannot interleave with another: the second writer
    waits for the first to commit, then reads what it wrote."""
    seen: list[int] = []
    has_read = threading.Event()

    def writer(pause: float) -> None:
        with db.connect(write=True) as conn:
            n = conn.execute("SELECT COUNT(*) FROM budgets").fetchone()[0]
            has_read.set()
            time.sleep(pause)  # a slow transaction: the second writer comes in meanwhile
            conn.execute("INSERT INTO budgets (scope, period, limit_micro) VALUES (?, 'day', 1)",
                         (f"s{n}",))
            seen.append(n)

    first = threading.Thread(target=writer, args=(0.5,))
    first.start()
    assert has_read.wait(30)  # the first writer is inside its transaction
    writer(0.0)
    first.join()
    assert seen == [0, 1]


def _migrate(db: Database) -> list[str]:
    return db.migrate()


def test_processes_starting_together_apply_each_migration_once(tmp_path, backend,
                                                                postgres_server):
    target = Database.sqlite(tmp_path / "fresh.sqlite3")
    if backend.kind == "postgresql":
        target = Database.postgresql(postgres_server.fresh_database(migrated=False))
    try:
        with multiprocessing.get_context("spawn").Pool(3) as pool:
            results = pool.map(_migrate, [target] * 3)
        names = [name for name, _ in storage.MIGRATIONS]
        assert sorted(n for r in results for n in r) == sorted(names)
        with target.connect() as conn:
            assert conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == len(
                names)
    finally:
        if target.kind == "postgresql":
            postgres_server.drop(str(target.location))


def test_an_unreachable_server_is_a_storage_error_without_the_password(monkeypatch):
    from support import free_port

    url = f"postgresql://app:s3cret@127.0.0.1:{free_port()}/nothing"
    with pytest.raises(StorageError) as info:
        Database.postgresql(url).migrate()
    assert "127.0.0.1" in str(info.value) and "s3cret" not in str(info.value)
    monkeypatch.setenv("PROMPTLAB_DATABASE_URL", url)
    assert "s3cret" not in repr(load_settings())
    assert "s3cret" not in repr(load_settings().db) and "127.0.0.1" in repr(load_settings().db)


def test_settings_name_their_database(tmp_path):
    plain = load_settings({"PROMPTLAB_DATA_DIR": str(tmp_path)})
    assert plain.db == Database.sqlite(tmp_path / "promptlab.sqlite3")
    assert plain.db.kind == "sqlite" and plain.db.location == tmp_path / "promptlab.sqlite3"
    url = "postgresql://app:s3cret@db.example:5432/lab"
    pg = load_settings({"PROMPTLAB_DATA_DIR": str(tmp_path), "PROMPTLAB_DATABASE_URL": url})
    assert pg.db == Database.postgresql(url) and pg.db.kind == "postgresql"
    assert repr(pg.db) == "Database.postgresql('postgresql://db.example:5432/lab')"
    with pytest.raises(ConfigError):
        Database.postgresql(str(tmp_path / "promptlab.sqlite3"))


def test_two_handles_in_one_process_write_to_their_own_databases(tmp_path, postgres_server):
    """A SQLite handle stays on its file while a PostgreSQL one is in use (and, on the second
    run, while PROMPTLAB_DATABASE_URL is set): no global switch sends both to PostgreSQL."""
    lite = Database.sqlite(tmp_path / "own.sqlite3")
    url = postgres_server.fresh_database()
    pg = Database.postgresql(url)
    try:
        spend.set_budget(lite, "all", "day", 1.0)
        spend.set_budget(pg, "openai", "month", 2.0)
        assert [(s.scope, s.period) for s in spend.statuses(lite)] == [("all", "day")]
        assert [(s.scope, s.period) for s in spend.statuses(pg)] == [("openai", "month")]
        with sqlite3.connect(tmp_path / "own.sqlite3") as conn:  # the file itself holds it
            assert conn.execute("SELECT scope, limit_micro FROM budgets").fetchall() == [
                ("all", 1_000_000)]
    finally:
        postgres_server.drop(url)


def test_sqlite_types_map_to_postgresql_and_triggers_need_a_postgresql_body():
    assert storage.pg_body("9999_new", "CREATE TABLE t (id INTEGER PRIMARY KEY, kb_id INTEGER, "
                                       "w REAL) WITHOUT ROWID;") == (
        "CREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
        "kb_id BIGINT, w DOUBLE PRECISION)")
    with pytest.raises(StorageError, match="9999_new"):
        storage.pg_body("9999_new", "CREATE TABLE t (a TEXT);\n"
                                    "CREATE TRIGGER t_x AFTER INSERT ON t BEGIN SELECT 1; END;")
