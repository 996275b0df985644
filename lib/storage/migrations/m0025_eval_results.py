"""Evals as code (lib.evals): each eval run's verdict per candidate prompt version, and every
move of a prompt's label, with whether it overrode a missing or failing required result.

A label lives in the prompt's manifest (a file); label_moves is its audit trail here: who
moved which label from which version to which, under which eval, and why if overridden."""

NAME = "0025_eval_results"
STEP = """
        CREATE TABLE eval_results (
            id          INTEGER PRIMARY KEY,
            created_at  TEXT NOT NULL,
            eval_name   TEXT NOT NULL,
            eval_path   TEXT NOT NULL,
            prompt      TEXT NOT NULL,
            version     INTEGER NOT NULL,
            passed      INTEGER NOT NULL,       -- 1: the gate passed for this version
            run_id      INTEGER,                -- the Compare run it made, if any
            summary     TEXT NOT NULL,          -- JSON: pass rates, regressions, cost
            created_by  TEXT
        );
        CREATE INDEX eval_results_latest ON eval_results (prompt, version, eval_name, id);
        CREATE TABLE label_moves (
            id              INTEGER PRIMARY KEY,
            moved_at        TEXT NOT NULL,
            prompt          TEXT NOT NULL,
            label           TEXT NOT NULL,
            from_version    INTEGER,            -- NULL: the label is new
            to_version      INTEGER NOT NULL,
            moved_by        TEXT,
            eval_name       TEXT,               -- the required eval that decided, if any
            eval_result_id  INTEGER,            -- its newest result then, if any
            overridden      INTEGER NOT NULL,   -- 1: moved without a passing required result
            reason          TEXT NOT NULL
        );
        CREATE INDEX label_moves_prompt ON label_moves (prompt, id);
    """
