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
    # Who made what, once sign-in is on (lib/ui/identity.py): a ledger row's user, a
    # conversation's owner (private to them), a knowledge base's and a compare run's owner
    # (shared, shown), and the user a budget hold was taken for. `calls_daily_users` is the
    # daily rollup split by user, for the Costs page's user filter; `user_days` each user's
    # daily totals, for spend by user and per-user budgets (a few rows per user and day, where
    # the split rollup has nearly one per call at a million calls: bench/bench_costs.py). The
    # ledger's insert keeps both in the same transaction (portable SQL, no trigger).
    ("0016_users", """
        ALTER TABLE calls ADD COLUMN user_id TEXT;
        ALTER TABLE conversations ADD COLUMN owner TEXT;
        CREATE INDEX conversations_owner ON conversations (owner, updated_at);
        ALTER TABLE knowledge_bases ADD COLUMN owner TEXT;
        ALTER TABLE compare_runs ADD COLUMN owner TEXT;
        ALTER TABLE reservations ADD COLUMN user_id TEXT;
        CREATE TABLE calls_daily_users (
            user_id TEXT NOT NULL, day TEXT NOT NULL, provider TEXT NOT NULL,
            model TEXT NOT NULL, page TEXT NOT NULL, prompt_name TEXT NOT NULL,
            prompt_version INTEGER NOT NULL, status TEXT NOT NULL,
            calls INTEGER NOT NULL, cost_micro INTEGER NOT NULL, input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL, cache_read_tokens INTEGER NOT NULL,
            cache_write_tokens INTEGER NOT NULL, cache_savings_micro INTEGER NOT NULL,
            PRIMARY KEY (user_id, day, provider, model, page, prompt_name, prompt_version,
                         status)
        );
        CREATE TABLE user_days (
            user_id TEXT NOT NULL, day TEXT NOT NULL, calls INTEGER NOT NULL,
            cost_micro INTEGER NOT NULL, input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL, errors INTEGER NOT NULL,
            PRIMARY KEY (user_id, day)
        );
    """),
    # The HTTP API's keys: only a hash of each secret is kept, with its first characters to
    # tell keys apart. A key's ledger rows carry its id; `spent_micro` is their running sum,
    # kept by a trigger in the row's own transaction (a budget check reads one row, not a
    # key's whole history), and a reservation made under a key budget names the key.
    ("0017_api_keys", """
        CREATE TABLE api_keys (
            id            INTEGER PRIMARY KEY,
            name          TEXT NOT NULL,
            prefix        TEXT NOT NULL,
            secret_hash   TEXT NOT NULL UNIQUE,     -- sha256 hex of the whole secret
            budget_micro  INTEGER CHECK (budget_micro IS NULL OR budget_micro >= 0),
            spent_micro   INTEGER NOT NULL DEFAULT 0,
            calls         INTEGER NOT NULL DEFAULT 0,
            created_at    TEXT NOT NULL,
            last_used_at  TEXT,
            revoked_at    TEXT
        );
        ALTER TABLE calls ADD COLUMN api_key_id INTEGER;
        CREATE INDEX calls_api_key ON calls (api_key_id, ts) WHERE api_key_id IS NOT NULL;
        ALTER TABLE reservations ADD COLUMN api_key_id INTEGER;
        CREATE TRIGGER api_keys_spend AFTER INSERT ON calls
        WHEN NEW.api_key_id IS NOT NULL BEGIN
            UPDATE api_keys SET spent_micro = spent_micro + NEW.cost_micro, calls = calls + 1,
                   last_used_at = NEW.ts
             WHERE id = NEW.api_key_id;
        END;
    """),
    # Who made an API key, once sign-in is on: the key's calls are theirs (the ledger row's
    # user, under their budget, in Costs by user), as the app's calls are.
    ("0018_api_key_owners", """
        ALTER TABLE api_keys ADD COLUMN owner TEXT;
    """),
    # Chat settings kept with each conversation (model or router, max tokens, tools, output
    # schema, knowledge base...: JSON the Chat page restores when it is reopened), and
    # branches: a message follows `parent_id` (NULL: it opens the conversation), so a
    # regenerated reply or an edited message is a sibling of the one it replaces, which stays
    # reachable. `leaf_id` is the newest message of the branch shown and sent (NULL: the
    # newest message). Nothing is deleted on a resend any more, so 0015's trigger only fires
    # with the conversation; a summary applies to a branch that holds its `through_id`.
    ("0019_conversation_settings", """
        ALTER TABLE conversations ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE conversations ADD COLUMN leaf_id INTEGER;
        ALTER TABLE messages ADD COLUMN parent_id INTEGER;
        UPDATE messages SET parent_id = (
            SELECT MAX(p.id) FROM messages p
             WHERE p.conversation_id = messages.conversation_id AND p.id < messages.id);
    """),
    # What each call sent and got back, for its detail page (lib/spend/ledger.py): the exact
    # request (system, messages, tools, tool choice, output schema, parameters) and the raw
    # reply (text, tool calls, stop reason) as JSON, written in the ledger row's own
    # transaction. Bounded in size: `truncated` says long texts or lists were cut to fit.
    ("0020_call_payloads", """
        CREATE TABLE call_payloads (
            call_id    INTEGER PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,
            request    TEXT NOT NULL,
            reply      TEXT NOT NULL,
            truncated  INTEGER NOT NULL DEFAULT 0
        );
    """),
    # Sign-in identities (lib.users): a person is an issuer and the `sub` it gives them,
    # mapped once to the user id that owns their rows: their email if the issuer verified it
    # and no other identity holds it (rows owned by that email before are theirs), otherwise
    # an id of its own. Owners stored before stay as they are.
    ("0021_identities", """
        CREATE TABLE identities (
            issuer      TEXT NOT NULL,
            subject     TEXT NOT NULL,
            user_id     TEXT NOT NULL UNIQUE,   -- what owns the person's rows
            email       TEXT,                   -- the verified email last seen (display)
            created_at  TEXT NOT NULL,
            seen_at     TEXT NOT NULL,
            PRIMARY KEY (issuer, subject)
        );
    """),
    # An API request answers with the model it names, or fails; a key made with this flag
    # lets its requests fall back down the catalog's chains unless a request says otherwise.
    ("0022_api_key_fallbacks", """
        ALTER TABLE api_keys ADD COLUMN fallbacks INTEGER NOT NULL DEFAULT 0;
    """),
]
