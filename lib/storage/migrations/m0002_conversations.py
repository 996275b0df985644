"""Chat conversations and their messages."""

NAME = "0002_conversations"
STEP = """
        CREATE TABLE conversations (
            id          INTEGER PRIMARY KEY,
            title       TEXT NOT NULL,
            model       TEXT NOT NULL DEFAULT '',
            system      TEXT NOT NULL DEFAULT '',
            created_at  TEXT NOT NULL,
            updated_at  TEXT NOT NULL
        );
        CREATE TABLE messages (
            id               INTEGER PRIMARY KEY,
            conversation_id  INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            role             TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
            content          TEXT NOT NULL,
            created_at       TEXT NOT NULL,
            call_id          INTEGER,
            status           TEXT NOT NULL DEFAULT 'ok',
            meta             TEXT NOT NULL DEFAULT '{}'   -- JSON: model, tokens, cost, timings
        );
        CREATE INDEX messages_conversation ON messages (conversation_id, id);
    """
