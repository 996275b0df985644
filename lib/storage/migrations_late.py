"""Migrations from 0014 on, appended to `migrations.MIGRATIONS` (that module was full).

The same rules: never edit or reorder one that has shipped; add new ones at the end.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

LATE: list[tuple[str, str | Callable[[sqlite3.Connection], None]]] = [
    # Resilience and routing: a fallback's row names the row whose model failed before it;
    # `route` says why this model was used (a router rule, or why a fallback was needed);
    # `baseline_micro` is what the same tokens would have cost on the router's top model.
    ("0014_fallbacks_and_routes", """
        ALTER TABLE calls ADD COLUMN fallback_of INTEGER;
        ALTER TABLE calls ADD COLUMN route TEXT;
        ALTER TABLE calls ADD COLUMN baseline_micro INTEGER;
        CREATE INDEX calls_routed ON calls (ts) WHERE baseline_micro IS NOT NULL;
    """),
    # Summarised history: how a conversation meets the window ('window' or 'summarise'), and
    # its summaries, newest last. A summary covers every message up to `through_id`; when an
    # edit or a regenerate removes a message it covered, the trigger drops the summary (ids
    # can be reused), and the one before it applies again.
    ("0015_history_summaries", """
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
    """),
]
