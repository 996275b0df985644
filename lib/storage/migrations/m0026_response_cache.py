"""The response cache (lib.llm.cache) in the database: a reply kept under the sha256 of its
normalised request (never the request itself), the oldest evicted first (by id). A ledger row
says whether its call looked the cache up (`response_cache`: hit | miss) and, for a hit, what
the call would have cost (`saved_micro`; the row's own cost is 0); the partial index finds
those rows for the Costs page. An API key can turn the cache on for its requests."""

NAME = "0026_response_cache"
STEP = """
        CREATE TABLE response_cache (
            id          INTEGER PRIMARY KEY,
            key         TEXT NOT NULL UNIQUE,      -- sha256 hex of the normalised request
            reply       TEXT NOT NULL,             -- the reply's events, as JSON
            created     REAL NOT NULL              -- epoch seconds: the TTL counts from here
        );
        ALTER TABLE calls ADD COLUMN saved_micro INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE calls ADD COLUMN response_cache TEXT;
        CREATE INDEX calls_response_cache ON calls (ts) WHERE response_cache IS NOT NULL;
        ALTER TABLE api_keys ADD COLUMN cache INTEGER NOT NULL DEFAULT 0;
    """
