"""The ledger: one row per model call, with its tokens, cost (micro-dollars), timings, status."""

NAME = "0001_calls"
STEP = """
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
    """
