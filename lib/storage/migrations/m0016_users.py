"""Who made what, once sign-in is on (lib/ui/identity.py): a ledger row's user, a conversation's
owner (private to them), a knowledge base's and a compare run's owner (shared, shown), and the
user a budget hold was taken for. `calls_daily_users` is the daily rollup split by user, for the
Costs page's user filter; `user_days` each user's daily totals, for spend by user and per-user
budgets (a few rows per user and day, where the split rollup has nearly one per call at a
million calls: bench/bench_costs.py). The ledger's insert keeps both in the same transaction
(portable SQL, no trigger)."""

NAME = "0016_users"
STEP = """
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
    """
