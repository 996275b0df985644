"""Compare: datasets of inputs, runs, their cells (one per row and variant) and votes."""

NAME = "0003_compare"
STEP = """
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
    """
