"""The document registry: knowledge bases, documents, chunk texts, and which chunks grounded
which call."""

NAME = "0004_knowledge"
STEP = """
        CREATE TABLE knowledge_bases (
            id               INTEGER PRIMARY KEY,
            name             TEXT NOT NULL UNIQUE,
            collection       TEXT NOT NULL UNIQUE,    -- the Chroma collection (an index)
            embedding_model  TEXT NOT NULL,
            created_at       TEXT NOT NULL,
            version          INTEGER NOT NULL DEFAULT 0  -- bumped when documents change
        );
        CREATE TABLE documents (
            id           INTEGER PRIMARY KEY,
            kb_id        INTEGER NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
            name         TEXT NOT NULL,
            kind         TEXT NOT NULL,
            size         INTEGER NOT NULL,
            sha256       TEXT NOT NULL,
            status       TEXT NOT NULL CHECK (status IN ('storing', 'ready')),
            chunk_count  INTEGER NOT NULL DEFAULT 0,
            added_at     TEXT NOT NULL,
            UNIQUE (kb_id, sha256)
        );
        CREATE TABLE chunks (
            id           TEXT PRIMARY KEY,           -- derived from content: see lib.chunking
            kb_id        INTEGER NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
            document_id  INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            idx          INTEGER NOT NULL,
            text         TEXT NOT NULL,
            tokens       INTEGER NOT NULL,
            page         INTEGER,
            heading      TEXT
        );
        CREATE INDEX chunks_document ON chunks (document_id, idx);
        CREATE INDEX chunks_kb ON chunks (kb_id);
        CREATE TABLE call_chunks (                  -- which chunks grounded which call
            call_id   INTEGER NOT NULL,
            chunk_id  TEXT NOT NULL,
            rank      INTEGER NOT NULL,
            PRIMARY KEY (call_id, chunk_id)
        );
    """
