"""Structured output: whether a reply matched its schema, and which row a repair repaired."""

NAME = "0011_structured_output"
STEP = """
        ALTER TABLE calls ADD COLUMN structured TEXT
            CHECK (structured IN ('valid', 'repaired', 'invalid'));
        ALTER TABLE calls ADD COLUMN repair_of INTEGER;
        CREATE INDEX calls_structured ON calls (ts) WHERE structured IS NOT NULL;
    """
