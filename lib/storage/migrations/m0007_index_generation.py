"""A knowledge base's index generation: bumped whenever its Chroma collection is dropped or
recreated, so a cached collection handle from before can never be used again (see
knowledge.index)."""

NAME = "0007_index_generation"
STEP = """
        ALTER TABLE knowledge_bases ADD COLUMN index_generation INTEGER NOT NULL DEFAULT 0;
    """
