"""How a base's searches fuse dense and keyword results; no row means the defaults."""

NAME = "0008_search_settings"
STEP = """
        CREATE TABLE search_settings (
            kb_id         INTEGER PRIMARY KEY REFERENCES knowledge_bases (id) ON DELETE CASCADE,
            method        TEXT NOT NULL CHECK (method IN ('scores', 'ranks')),
            dense_weight  REAL NOT NULL CHECK (dense_weight BETWEEN 0 AND 1),
            rrf_k         INTEGER NOT NULL CHECK (rrf_k BETWEEN 1 AND 1000),
            per_document  INTEGER NOT NULL CHECK (per_document BETWEEN 1 AND 100)
        );
    """
