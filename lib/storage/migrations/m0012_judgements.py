"""Compare cells with an output schema, and model judges' verdicts on a run's cells: a rubric
score per cell, or a pairwise outcome per pair (both orders in `detail`)."""

NAME = "0012_judgements"
STEP = """
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
    """
