"""Summarised history: how a conversation meets the window ('window' or 'summarise'), and its
summaries, newest last. A summary covers every message up to `through_id`; when an edit or a
regenerate removes a message it covered, the trigger drops the summary (ids can be reused), and
the one before it applies again."""

NAME = "0015_history_summaries"
STEP = """
        ALTER TABLE conversations ADD COLUMN history_strategy TEXT NOT NULL DEFAULT 'window';
        CREATE TABLE history_summaries (
            id               INTEGER PRIMARY KEY,
            conversation_id  INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            text             TEXT NOT NULL,
            through_id       INTEGER NOT NULL,   -- the newest message covered
            covered          INTEGER NOT NULL,   -- how many messages it covers
            call_id          INTEGER,            -- the ledger row that wrote it (the last one)
            model            TEXT NOT NULL,      -- catalog key of the model that wrote it
            edited           INTEGER NOT NULL DEFAULT 0,
            created_at       TEXT NOT NULL,
            updated_at       TEXT NOT NULL
        );
        CREATE INDEX history_summaries_conversation ON history_summaries (conversation_id, id);
        CREATE TRIGGER history_summaries_rewound AFTER DELETE ON messages BEGIN
            DELETE FROM history_summaries
             WHERE conversation_id = OLD.conversation_id AND through_id >= OLD.id;
        END;
    """

POSTGRES_TRIGGERS = """
        CREATE FUNCTION history_summaries_rewound() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM history_summaries
             WHERE conversation_id = OLD.conversation_id AND through_id >= OLD.id;
            RETURN NULL;
        END $$;
        CREATE TRIGGER history_summaries_rewound AFTER DELETE ON messages
            FOR EACH ROW EXECUTE FUNCTION history_summaries_rewound();
    """
