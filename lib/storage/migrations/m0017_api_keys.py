"""The HTTP API's keys: only a hash of each secret is kept, with its first characters to tell
keys apart. A key's ledger rows carry its id; `spent_micro` is their running sum, kept by a
trigger in the row's own transaction (a budget check reads one row, not a key's whole history),
and a reservation made under a key budget names the key."""

NAME = "0017_api_keys"
STEP = """
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
    """

POSTGRES_TRIGGERS = """
        CREATE FUNCTION api_keys_spend() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE api_keys SET spent_micro = spent_micro + NEW.cost_micro, calls = calls + 1,
                   last_used_at = NEW.ts
             WHERE id = NEW.api_key_id;
            RETURN NULL;
        END $$;
        CREATE TRIGGER api_keys_spend AFTER INSERT ON calls
            FOR EACH ROW WHEN (NEW.api_key_id IS NOT NULL) EXECUTE FUNCTION api_keys_spend();
    """
