"""An agent run is several calls: each step's row carries the run and its number."""

NAME = "0009_agent_steps"
STEP = """
        ALTER TABLE calls ADD COLUMN run_id TEXT;
        ALTER TABLE calls ADD COLUMN step INTEGER;
        CREATE INDEX calls_run ON calls (run_id, step) WHERE run_id IS NOT NULL;
    """
