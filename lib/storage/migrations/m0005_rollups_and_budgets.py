"""The ledger's daily totals and latency histograms, kept by a trigger in the row's own
transaction (dashboards read these, not calls); budgets, and the holds of calls in flight."""

from __future__ import annotations

# The rollups' dimensions and keys, for the trigger on each database.
_DIMS = ("substr(NEW.ts, 1, 10), NEW.provider, NEW.model, NEW.page, "
         "COALESCE(NEW.prompt_name, ''), COALESCE(NEW.prompt_version, 0), NEW.status")
_KEY = "day, provider, model, page, prompt_name, prompt_version, status"
_LATENCY_DIMS = "substr(NEW.ts, 1, 10), NEW.provider, NEW.model"
_LATENCY_KEY = "day, provider, model, metric, bucket"
_SUMS = ("cost_micro", "input_tokens", "output_tokens", "cache_read_tokens",
         "cache_write_tokens", "cache_savings_micro")


def _latency(metric: str) -> str:
    return f"""
        IF NEW.{metric}_bucket IS NOT NULL THEN
            INSERT INTO calls_latency VALUES (substr(NEW.ts, 1, 10), NEW.provider, NEW.model,
                '{metric}', NEW.{metric}_bucket, 1)
            ON CONFLICT (day, provider, model, metric, bucket)
            DO UPDATE SET n = calls_latency.n + 1;
        END IF;"""


NAME = "0005_rollups_and_budgets"
STEP = f"""
        ALTER TABLE calls ADD COLUMN cache_savings_micro INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE calls ADD COLUMN ttft_bucket INTEGER;
        ALTER TABLE calls ADD COLUMN total_bucket INTEGER;
        CREATE INDEX calls_cost ON calls (cost_micro);
        -- Daily totals per dimension, kept by a trigger: dashboards read these, not calls.
        CREATE TABLE calls_daily (
            day TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, page TEXT NOT NULL,
            prompt_name TEXT NOT NULL, prompt_version INTEGER NOT NULL, status TEXT NOT NULL,
            calls INTEGER NOT NULL, cost_micro INTEGER NOT NULL, input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL, cache_read_tokens INTEGER NOT NULL,
            cache_write_tokens INTEGER NOT NULL, cache_savings_micro INTEGER NOT NULL,
            PRIMARY KEY ({_KEY})
        ) WITHOUT ROWID;
        -- Latency histograms (2%-wide buckets, see latency_bucket) for p50 / p95 over any
        -- range, per day and model only: finer dimensions made this table nearly as large
        -- as the ledger (bench/bench_costs.py).
        CREATE TABLE calls_latency (
            day TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
            metric TEXT NOT NULL, bucket INTEGER NOT NULL, n INTEGER NOT NULL,
            PRIMARY KEY ({_LATENCY_KEY})
        ) WITHOUT ROWID;
        CREATE TRIGGER calls_rollup AFTER INSERT ON calls BEGIN
            INSERT INTO calls_daily VALUES ({_DIMS}, 1, NEW.cost_micro, NEW.input_tokens,
                NEW.output_tokens, NEW.cache_read_tokens, NEW.cache_write_tokens,
                NEW.cache_savings_micro)
            ON CONFLICT ({_KEY}) DO UPDATE SET calls = calls + 1,
                cost_micro = cost_micro + excluded.cost_micro,
                input_tokens = input_tokens + excluded.input_tokens,
                output_tokens = output_tokens + excluded.output_tokens,
                cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
                cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
                cache_savings_micro = cache_savings_micro + excluded.cache_savings_micro;
            INSERT INTO calls_latency SELECT {_LATENCY_DIMS}, 'ttft', NEW.ttft_bucket, 1
                WHERE NEW.ttft_bucket IS NOT NULL
            ON CONFLICT ({_LATENCY_KEY}) DO UPDATE SET n = n + 1;
            INSERT INTO calls_latency SELECT {_LATENCY_DIMS}, 'total', NEW.total_bucket, 1
                WHERE NEW.total_bucket IS NOT NULL
            ON CONFLICT ({_LATENCY_KEY}) DO UPDATE SET n = n + 1;
        END;
        CREATE TABLE budgets (
            scope        TEXT NOT NULL,            -- 'all' or a provider
            period       TEXT NOT NULL CHECK (period IN ('day', 'month')),
            limit_micro  INTEGER NOT NULL CHECK (limit_micro >= 0),
            PRIMARY KEY (scope, period)
        );
        -- Worst-case costs of calls in flight, held until the ledger row settles them.
        CREATE TABLE reservations (
            id            INTEGER PRIMARY KEY,
            provider      TEXT NOT NULL,
            amount_micro  INTEGER NOT NULL,
            created_at    TEXT NOT NULL
        );
    """

POSTGRES_TRIGGERS = f"""
        CREATE FUNCTION calls_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO calls_daily VALUES ({_DIMS}, 1,
                {", ".join(f"NEW.{c}" for c in _SUMS)})
            ON CONFLICT ({_KEY}) DO UPDATE SET calls = calls_daily.calls + 1,
                {", ".join(f"{c} = calls_daily.{c} + EXCLUDED.{c}" for c in _SUMS)};
            {_latency("ttft")}
            {_latency("total")}
            RETURN NULL;
        END $$;
        CREATE TRIGGER calls_rollup AFTER INSERT ON calls
            FOR EACH ROW EXECUTE FUNCTION calls_rollup();
    """
