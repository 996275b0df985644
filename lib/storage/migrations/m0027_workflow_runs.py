"""Workflow runs (lib.workflows): a run of a workflow version with its inputs, how it ended,
and each step's status, output, error, time, ledger rows and (a map's, an orchestrator's)
items. The calls themselves are ledger rows carrying the run's id and the step's place."""

NAME = "0027_workflow_runs"
STEP = """
        CREATE TABLE workflow_runs (
            id              TEXT PRIMARY KEY,
            workflow        TEXT NOT NULL,
            version         INTEGER,
            inputs          TEXT NOT NULL,          -- JSON
            status          TEXT NOT NULL,          -- running, done, failed, stopped
            started_at      TEXT NOT NULL,
            finished_at     TEXT,
            ms              REAL,
            forecast_micro  INTEGER NOT NULL DEFAULT 0,
            cost_micro      INTEGER NOT NULL DEFAULT 0,
            created_by      TEXT,
            error           TEXT
        );
        CREATE INDEX workflow_runs_by_name ON workflow_runs (workflow, started_at);
        CREATE TABLE workflow_steps (
            run_id          TEXT NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
            step            TEXT NOT NULL,
            position        INTEGER NOT NULL,       -- the step's place in the file, from 1
            kind            TEXT NOT NULL,
            status          TEXT NOT NULL,          -- waiting, running, done, skipped, failed
            cause           TEXT,                   -- failed: error, dependency or stopped
            output          TEXT,                   -- JSON
            error           TEXT,
            started_at      TEXT,
            ms              REAL,
            calls           TEXT NOT NULL DEFAULT '[]',   -- JSON: its ledger rows' ids
            items           TEXT NOT NULL DEFAULT '[]',   -- JSON: a map's or orchestrator's
            input_tokens    INTEGER NOT NULL DEFAULT 0,
            output_tokens   INTEGER NOT NULL DEFAULT 0,
            cost_micro      INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (run_id, step)
        );
    """
