"""Migrations are history: the shipped ones keep their names, order and schema on both
databases, a database migrated before they became one file each needs nothing more, and the
package's files cannot slip one in between or rename one."""

from __future__ import annotations

import itertools
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from lib import storage
from lib.core import StorageError
from lib.storage import Database

# Every migration shipped before they moved into one file each (lib/storage/migrations.py
# and migrations_late.py), in the order they were applied.
SHIPPED = [
    "0001_calls", "0002_conversations", "0003_compare", "0004_knowledge",
    "0005_rollups_and_budgets", "0006_backfill_rollups", "0007_index_generation",
    "0008_search_settings", "0009_agent_steps", "0010_compare_cell_runs",
    "0011_structured_output", "0012_judgements", "0013_batches", "0014_fallbacks_and_routes",
    "0015_history_summaries", "0016_users", "0017_api_keys", "0018_api_key_owners",
    "0019_conversation_settings", "0020_call_payloads", "0021_identities",
    "0022_api_key_fallbacks",
]
# The schema those 22 made on each database, recorded from that code with `schema` below.
SNAPSHOT = Path(__file__).parent / "fixtures" / "schema_0022.json"

_PG_SCHEMA = [
    "SELECT table_name, ordinal_position, column_name, data_type, is_nullable, "
    "column_default, is_identity FROM information_schema.columns WHERE table_schema = "
    "current_schema() AND table_name <> 'schema_migrations' ORDER BY 1, 2",
    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
    "AND tablename <> 'schema_migrations' ORDER BY 1",
    "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE connamespace = current_schema()::regnamespace "
    "AND conrelid::regclass::text <> 'schema_migrations' ORDER BY 1, 2",
    "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1",
    "SELECT proname, prosrc FROM pg_proc WHERE pronamespace = current_schema()::regnamespace "
    "AND prorettype = 'trigger'::regtype ORDER BY 1",
]


def schema(target: Database) -> list[str]:
    """What the migrations made of a database: every table, column, index, constraint and
    trigger, as text (the migrations table itself left out). Read on a connection of its own:
    the handle's would first apply every migration not yet applied (one added since)."""
    if target.kind == "sqlite":
        with closing(sqlite3.connect(target.location)) as conn:
            return [" | ".join(map(str, r)) for r in conn.execute(
                "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
                "AND tbl_name <> 'schema_migrations' ORDER BY name")]
    import psycopg

    with psycopg.connect(str(target.location)) as pg:
        return [" | ".join(map(str, r)) for sql in _PG_SCHEMA for r in pg.execute(sql)]


@pytest.fixture
def empty(tmp_path, backend, postgres_server):
    """A database with nothing in it yet, on the backend under test."""
    if backend.kind == "sqlite":
        yield Database.sqlite(tmp_path / "empty.sqlite3")
        return
    url = postgres_server.fresh_database(migrated=False)
    yield Database.postgresql(url)
    postgres_server.drop(url)


def test_the_shipped_migrations_keep_their_names_and_order():
    names = [name for name, _ in storage.MIGRATIONS]
    assert names[:len(SHIPPED)] == SHIPPED


def test_the_shipped_migrations_make_the_schema_they_always_made(empty, backend):
    assert empty.migrate(until=SHIPPED[-1]) == SHIPPED
    snapshot = json.loads(SNAPSHOT.read_text())
    assert schema(empty) == snapshot["sqlite" if backend.kind == "sqlite" else "postgres"]


def test_a_database_migrated_by_the_old_files_needs_nothing_more(tmp_path):
    """Rebuilt from the old code's schema and migrations table, a SQLite database gets only the
    migrations added since, and ends as a new database does."""
    path, new = tmp_path / "old.sqlite3", tmp_path / "new.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, "
                     "applied_at TEXT NOT NULL DEFAULT (datetime('now')))")
        made = json.loads(SNAPSHOT.read_text())["sqlite"]
        for kind in ("table", "index", "trigger"):  # a trigger's table must exist first
            for line in made:
                if line.startswith(f"{kind} | "):
                    conn.execute(line.split(" | ", 2)[2])
        conn.executemany("INSERT INTO schema_migrations (name) VALUES (?)",
                         [(n,) for n in SHIPPED])
    old, fresh = Database.sqlite(path), Database.sqlite(new)
    assert old.migrate() == [name for name, _ in storage.MIGRATIONS[len(SHIPPED):]]
    assert fresh.migrate() == [name for name, _ in storage.MIGRATIONS]
    assert schema(old) == schema(fresh)


_packages = itertools.count()


def _package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> str:
    """A package of migration modules {stem: NAME} on sys.path; its name."""
    name = f"migrations_{next(_packages)}"
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("")
    for stem, recorded in files.items():
        (root / f"{stem}.py").write_text(f"NAME = {recorded!r}\nSTEP = 'SELECT 1'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_a_new_migration_is_one_file_found_by_its_number(tmp_path, monkeypatch):
    package = _package(tmp_path, monkeypatch, {"m0002_b": "0002_b", "m0001_a": "0001_a",
                                               "m0003_c": "0003_c"})
    migrations, triggers = storage.migrations_in(package)
    assert [name for name, _ in migrations] == ["0001_a", "0002_b", "0003_c"]
    assert triggers == {}


@pytest.mark.parametrize(("files", "error"), [
    ({"m0001_a": "0001_a", "m0003_c": "0003_c"}, "expected migration 0002"),    # a gap
    ({"m0001_a": "0001_a", "m0001_b": "0001_b"}, "expected migration 0002"),    # a repeat
    ({"m0001_a": "0001_a", "m0002_b": "0001_b"}, "names itself '0001_b'"),      # renamed
    ({"m0001_a": "0001_a", "m0001a_b": "0001a_b"}, "expected migration 0002"),  # in between
    ({"m0001_a": "0001_a", "helpers": ""}, "helpers: expected migration 0001"),
])
def test_files_cannot_slip_a_migration_in_or_rename_one(tmp_path, monkeypatch, files, error):
    with pytest.raises(StorageError, match=error):
        storage.migrations_in(_package(tmp_path, monkeypatch, files))
