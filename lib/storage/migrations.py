"""The named, append-only migrations of the one database (0014 on: `migrations_late`).

Never edit or reorder a migration that has shipped; add a new one at the end. A migration is
SQL, or a function given the connection inside the migration's transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from lib.core import latency_bucket
from lib.storage.migrations_late import LATE


def _backfill_rollups(conn: sqlite3.Connection) -> None:
    """Bucket the latencies of calls recorded before 0005, then roll every call up."""
    rows = conn.execute("SELECT id, ttft_ms, total_ms FROM calls").fetchall()
    conn.executemany("UPDATE calls SET ttft_bucket = ?, total_bucket = ? WHERE id = ?",
                     [(latency_bucket(r[1]), latency_bucket(r[2]), r[0]) for r in rows])
    dims = ("substr(ts, 1, 10), provider, model, page, COALESCE(prompt_name, ''), "
            "COALESCE(prompt_version, 0), status")
    conn.execute(f"INSERT INTO calls_daily SELECT {dims}, COUNT(*), SUM(cost_micro), "
                 "SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), "
                 f"SUM(cache_write_tokens), SUM(cache_savings_micro) FROM calls GROUP BY {dims}")
    for metric in ("ttft", "total"):
        conn.execute(f"INSERT INTO calls_latency SELECT substr(ts, 1, 10), provider, model, "
                     f"'{metric}', {metric}_bucket, COUNT(*) FROM calls WHERE {metric}_bucket "
                     f"IS NOT NULL GROUP BY substr(ts, 1, 10), provider, model, {metric}_bucket")


_DIMS = ("substr(NEW.ts, 1, 10), NEW.provider, NEW.model, NEW.page, "
         "COALESCE(NEW.prompt_name, ''), COALESCE(NEW.prompt_version, 0), NEW.status")
_KEY = "day, provider, model, page, prompt_name, prompt_version, status"
_LATENCY_DIMS = "substr(NEW.ts, 1, 10), NEW.provider, NEW.model"
_LATENCY_KEY = "day, provider, model, metric, bucket"

MIGRATIONS: list[tuple[str, str | Callable[[sqlite3.Connection], None]]] = [
    ("0001_calls", """
        CREATE TABLE calls (
            id                 INTEGER PRIMARY KEY,
            ts                 TEXT NOT NULL,          -- UTC ISO-8601, when the call started
            page               TEXT NOT NULL,
            provider           TEXT NOT NULL,
            model              TEXT NOT NULL,
            prompt_name        TEXT,
            prompt_version     INTEGER,
            conversation_id    INTEGER,
            input_tokens       INTEGER NOT NULL DEFAULT 0,
            output_tokens      INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            usage_estimated    INTEGER NOT NULL DEFAULT 0,
            cost_micro         INTEGER NOT NULL DEFAULT 0,  -- micro-dollars
            ttft_ms            REAL,
            total_ms           REAL NOT NULL,
            attempts           INTEGER NOT NULL,
            status             TEXT NOT NULL CHECK (status IN
                                   ('ok', 'error', 'incomplete', 'cancelled')),
            error_kind         TEXT,
            error_message      TEXT
        );
        CREATE INDEX calls_ts ON calls (ts);
    """),
    ("0002_conversations", """
        CREATE TABLE conversations (
            id          INTEGER PRIMARY KEY,
            title       TEXT NOT NULL,
            model       TEXT NOT NULL DEFAULT '',
            system      TEXT NOT NULL DEFAULT '',
            created_at  TEXT NOT NULL,
            updated_at  TEXT NOT NULL
        );
        CREATE TABLE messages (
            id               INTEGER PRIMARY KEY,
            conversation_id  INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            role             TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
            content          TEXT NOT NULL,
            created_at       TEXT NOT NULL,
            call_id          INTEGER,
            status           TEXT NOT NULL DEFAULT 'ok',
            meta             TEXT NOT NULL DEFAULT '{}'   -- JSON: model, tokens, cost, timings
        );
        CREATE INDEX messages_conversation ON messages (conversation_id, id);
    """),
    ("0003_compare", """
        CREATE TABLE datasets (
            id          INTEGER PRIMARY KEY,
            name        TEXT NOT NULL,
            columns     TEXT NOT NULL,             -- JSON list of column names
            rows        TEXT NOT NULL,             -- JSON list of {column: value}
            created_at  TEXT NOT NULL
        );
        CREATE TABLE compare_runs (
            id          INTEGER PRIMARY KEY,
            created_at  TEXT NOT NULL,
            title       TEXT NOT NULL,
            dataset_id  INTEGER REFERENCES datasets (id) ON DELETE SET NULL,
            variants    TEXT NOT NULL,             -- JSON: prompt, version, model, parameters
            inputs      TEXT NOT NULL,             -- JSON list of row values
            checks      TEXT NOT NULL DEFAULT '[]',
            status      TEXT NOT NULL DEFAULT 'running'
        );
        CREATE TABLE compare_cells (
            run_id         INTEGER NOT NULL REFERENCES compare_runs (id) ON DELETE CASCADE,
            row_index      INTEGER NOT NULL,
            variant_index  INTEGER NOT NULL,
            prompt_text    TEXT NOT NULL DEFAULT '',
            output         TEXT NOT NULL DEFAULT '',
            status         TEXT NOT NULL,
            input_tokens   INTEGER NOT NULL DEFAULT 0,
            output_tokens  INTEGER NOT NULL DEFAULT 0,
            cost_micro     INTEGER NOT NULL DEFAULT 0,
            ttft_ms        REAL,
            total_ms       REAL,
            call_id        INTEGER,
            error          TEXT,
            checks         TEXT NOT NULL DEFAULT '{}',  -- JSON {check label: passed}
            PRIMARY KEY (run_id, row_index, variant_index)
        );
        CREATE TABLE votes (
            run_id         INTEGER NOT NULL REFERENCES compare_runs (id) ON DELETE CASCADE,
            row_index      INTEGER NOT NULL,
            left_variant   INTEGER NOT NULL,
            right_variant  INTEGER NOT NULL,
            outcome        TEXT NOT NULL CHECK (outcome IN ('left', 'right', 'tie', 'both_bad')),
            created_at     TEXT NOT NULL,
            PRIMARY KEY (run_id, row_index, left_variant, right_variant)
        );
    """),
    ("0004_knowledge", """
        CREATE TABLE knowledge_bases (
            id               INTEGER PRIMARY KEY,
            name             TEXT NOT NULL UNIQUE,
            collection       TEXT NOT NULL UNIQUE,    -- the Chroma collection (an index)
            embedding_model  TEXT NOT NULL,
            created_at       TEXT NOT NULL,
            version          INTEGER NOT NULL DEFAULT 0  -- bumped when documents change
        );
        CREATE TABLE documents (
            id           INTEGER PRIMARY KEY,
            kb_id        INTEGER NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
            name         TEXT NOT NULL,
            kind         TEXT NOT NULL,
            size         INTEGER NOT NULL,
            sha256       TEXT NOT NULL,
            status       TEXT NOT NULL CHECK (status IN ('storing', 'ready')),
            chunk_count  INTEGER NOT NULL DEFAULT 0,
            added_at     TEXT NOT NULL,
            UNIQUE (kb_id, sha256)
        );
        CREATE TABLE chunks (
            id           TEXT PRIMARY KEY,           -- derived from content: see lib.chunking
            kb_id        INTEGER NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
            document_id  INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            idx          INTEGER NOT NULL,
            text         TEXT NOT NULL,
            tokens       INTEGER NOT NULL,
            page         INTEGER,
            heading      TEXT
        );
        CREATE INDEX chunks_document ON chunks (document_id, idx);
        CREATE INDEX chunks_kb ON chunks (kb_id);
        CREATE TABLE call_chunks (                  -- which chunks grounded which call
            call_id   INTEGER NOT NULL,
            chunk_id  TEXT NOT NULL,
            rank      INTEGER NOT NULL,
            PRIMARY KEY (call_id, chunk_id)
        );
    """),
    ("0005_rollups_and_budgets", f"""
        ALTER TABLE calls ADD COLUMN cache_savings_micro INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE calls ADD COLUMN ttft_bucket INTEGER;
        ALTER TABLE calls ADD COLUMN total_bucket INTEGER;
        CREATE INDEX calls_cost ON calls (cost_micro);
        -- Daily totals per dimension, kept by a trigger: dashboards read these, not calls.
        CREATE TABLE calls_daily (
            day TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, page TEXT NOT NULL,
            prompt_name TEXT NOT NULL, prompt_version INTEGER NOT NULL, status TEXT NOT NULL,
            calls INTEGER NOT NULL, cost_micro INTEGER NOT NULL, input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL, cache_read_tokens INTEGER NOT NULL,
            cache_write_tokens INTEGER NOT NULL, cache_savings_micro INTEGER NOT NULL,
            PRIMARY KEY ({_KEY})
        ) WITHOUT ROWID;
        -- Latency histograms (2%-wide buckets, see latency_bucket) for p50 / p95 over any
        -- range, per day and model only: finer dimensions made this table nearly as large
        -- as the ledger (bench/bench_costs.py).
        CREATE TABLE calls_latency (
            day TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
            metric TEXT NOT NULL, bucket INTEGER NOT NULL, n INTEGER NOT NULL,
            PRIMARY KEY ({_LATENCY_KEY})
        ) WITHOUT ROWID;
        CREATE TRIGGER calls_rollup AFTER INSERT ON calls BEGIN
            INSERT INTO calls_daily VALUES ({_DIMS}, 1, NEW.cost_micro, NEW.input_tokens,
                NEW.output_tokens, NEW.cache_read_tokens, NEW.cache_write_tokens,
                NEW.cache_savings_micro)
            ON CONFLICT ({_KEY}) DO UPDATE SET calls = calls + 1,
                cost_micro = cost_micro + excluded.cost_micro,
                input_tokens = input_tokens + excluded.input_tokens,
                output_tokens = output_tokens + excluded.output_tokens,
                cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
                cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
                cache_savings_micro = cache_savings_micro + excluded.cache_savings_micro;
            INSERT INTO calls_latency SELECT {_LATENCY_DIMS}, 'ttft', NEW.ttft_bucket, 1
                WHERE NEW.ttft_bucket IS NOT NULL
            ON CONFLICT ({_LATENCY_KEY}) DO UPDATE SET n = n + 1;
            INSERT INTO calls_latency SELECT {_LATENCY_DIMS}, 'total', NEW.total_bucket, 1
                WHERE NEW.total_bucket IS NOT NULL
            ON CONFLICT ({_LATENCY_KEY}) DO UPDATE SET n = n + 1;
        END;
        CREATE TABLE budgets (
            scope        TEXT NOT NULL,            -- 'all' or a provider
            period       TEXT NOT NULL CHECK (period IN ('day', 'month')),
            limit_micro  INTEGER NOT NULL CHECK (limit_micro >= 0),
            PRIMARY KEY (scope, period)
        );
        -- Worst-case costs of calls in flight, held until the ledger row settles them.
        CREATE TABLE reservations (
            id            INTEGER PRIMARY KEY,
            provider      TEXT NOT NULL,
            amount_micro  INTEGER NOT NULL,
            created_at    TEXT NOT NULL
        );
    """),
    ("0006_backfill_rollups", _backfill_rollups),
    # Bumped whenever a knowledge base's Chroma collection is dropped or recreated, so a
    # cached collection handle from before can never be used again (see knowledge.index).
    ("0007_index_generation", """
        ALTER TABLE knowledge_bases ADD COLUMN index_generation INTEGER NOT NULL DEFAULT 0;
    """),
    # How a base's searches fuse dense and keyword results; no row means the defaults.
    ("0008_search_settings", """
        CREATE TABLE search_settings (
            kb_id         INTEGER PRIMARY KEY REFERENCES knowledge_bases (id) ON DELETE CASCADE,
            method        TEXT NOT NULL CHECK (method IN ('scores', 'ranks')),
            dense_weight  REAL NOT NULL CHECK (dense_weight BETWEEN 0 AND 1),
            rrf_k         INTEGER NOT NULL CHECK (rrf_k BETWEEN 1 AND 1000),
            per_document  INTEGER NOT NULL CHECK (per_document BETWEEN 1 AND 100)
        );
    """),
    # An agent run is several calls: each step's row carries the run and its number.
    ("0009_agent_steps", """
        ALTER TABLE calls ADD COLUMN run_id TEXT;
        ALTER TABLE calls ADD COLUMN step INTEGER;
        CREATE INDEX calls_run ON calls (run_id, step) WHERE run_id IS NOT NULL;
    """),
    # A compare cell whose variant uses tools is an agent run: its steps and tool calls.
    ("0010_compare_cell_runs", """
        ALTER TABLE compare_cells ADD COLUMN trace TEXT NOT NULL DEFAULT '{}';
    """),
    # Structured output: whether a reply matched its schema, and which row a repair repaired.
    ("0011_structured_output", """
        ALTER TABLE calls ADD COLUMN structured TEXT
            CHECK (structured IN ('valid', 'repaired', 'invalid'));
        ALTER TABLE calls ADD COLUMN repair_of INTEGER;
        CREATE INDEX calls_structured ON calls (ts) WHERE structured IS NOT NULL;
    """),
    # Compare cells with an output schema, and model judges' verdicts on a run's cells:
    # a rubric score per cell, or a pairwise outcome per pair (both orders in `detail`).
    ("0012_judgements", """
        ALTER TABLE compare_cells ADD COLUMN structured TEXT;
        ALTER TABLE compare_cells ADD COLUMN repairs INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE judgements (
            run_id         INTEGER NOT NULL REFERENCES compare_runs (id) ON DELETE CASCADE,
            judge          TEXT NOT NULL,            -- "prompt vN · model key"
            kind           TEXT NOT NULL CHECK (kind IN ('rubric', 'pairwise')),
            row_index      INTEGER NOT NULL,
            left_variant   INTEGER NOT NULL,
            right_variant  INTEGER NOT NULL,         -- rubric: the same as left_variant
            outcome        TEXT CHECK (outcome IN ('left', 'right', 'tie')),
            score          REAL,
            detail         TEXT NOT NULL DEFAULT '{}',
            created_at     TEXT NOT NULL,
            PRIMARY KEY (run_id, judge, row_index, left_variant, right_variant)
        );
    """),
    # Batch runs of a compare run, one per model; open (closed_at NULL) until all are recorded.
    ("0013_batches", """
        CREATE TABLE batches (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES compare_runs (id) ON DELETE CASCADE,
            provider TEXT NOT NULL, model_key TEXT NOT NULL,
            model TEXT NOT NULL,                  -- JSON: the catalog entry (prices) at submission
            remote_id TEXT,                       -- the provider's batch id, once accepted
            status TEXT NOT NULL,                 -- 'submitting', then one of BATCH_STATES
            reservation_id INTEGER, reserved_micro INTEGER NOT NULL DEFAULT 0,  -- budget hold
            total INTEGER NOT NULL DEFAULT 0, succeeded INTEGER NOT NULL DEFAULT 0,
            errored INTEGER NOT NULL DEFAULT 0, expired INTEGER NOT NULL DEFAULT 0,
            cancelled INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL, closed_at TEXT
        );
        CREATE INDEX batches_open ON batches (run_id) WHERE closed_at IS NULL;
        CREATE TABLE batch_items (   -- one request, keyed by the custom id sent with it
            batch_id INTEGER NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
            custom_id TEXT NOT NULL, row_index INTEGER NOT NULL, variant_index INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',  -- 'recording', then one of BATCH_OUTCOMES
            call_id INTEGER, PRIMARY KEY (batch_id, custom_id)
        );
    """),
    *LATE,
]
