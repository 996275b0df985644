"""A compare cell whose variant uses tools is an agent run: its steps and tool calls."""

NAME = "0010_compare_cell_runs"
STEP = """
        ALTER TABLE compare_cells ADD COLUMN trace TEXT NOT NULL DEFAULT '{}';
    """
