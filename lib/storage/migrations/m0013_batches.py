"""Batch runs of a compare run, one per model; open (closed_at NULL) until all are recorded."""

NAME = "0013_batches"
STEP = """
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
    """
