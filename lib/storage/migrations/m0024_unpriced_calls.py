"""A call made on a model whose price is unknown (discovered from a provider's models
endpoint, not priced in models.toml) says so: its cost is unknown, not $0. The partial index
finds those few rows for the Costs page's note; compare cells say the same of their calls."""

NAME = "0024_unpriced_calls"
STEP = """
        ALTER TABLE calls ADD COLUMN priced INTEGER NOT NULL DEFAULT 1;
        CREATE INDEX calls_unpriced ON calls (ts) WHERE priced = 0;
        ALTER TABLE compare_cells ADD COLUMN priced INTEGER NOT NULL DEFAULT 1;
    """
