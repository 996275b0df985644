"""The Costs dashboard's figures, aggregated in SQL over the ledger's rollup tables.

calls_daily and calls_latency are kept by a trigger on every ledger insert (see
lib/storage/migrations/m0005_rollups_and_budgets.py), so each figure reads a few thousand
rollup rows however many calls there are. Latency p50 / p95
come from 2%-wide histogram buckets: within 1% of the exact nearest-rank percentile. Filtered
by user, the same figures read calls_daily_users (the rollup split by user, kept by the
ledger's insert); spend by user reads user_days (a row per user and day), or the split rollup
when other filters are set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lib.core import bucket_value
from lib.storage import Database

if TYPE_CHECKING:
    import pandas as pd

DIMENSIONS = ("provider", "model", "page", "prompt_name", "status")


@dataclass(frozen=True)
class Filters:
    start: str                                   # first UTC day, YYYY-MM-DD
    end: str                                     # last UTC day, inclusive
    provider: tuple[str, ...] = ()
    model: tuple[str, ...] = ()
    page: tuple[str, ...] = ()
    prompt_name: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    user_id: tuple[str, ...] = ()                # signed-in users (lib/ui/identity)

    @property
    def rollup(self) -> str:
        """The daily rollup that can answer these filters."""
        return "calls_daily_users" if self.user_id else "calls_daily"

    def where(self, *, ledger: bool = False) -> tuple[str, list[Any]]:
        """A WHERE clause for the rollups, or (ledger=True) for the calls table itself."""
        day = "substr(ts, 1, 10)" if ledger else "day"
        clauses, args = [f"{day} BETWEEN ? AND ?"], [self.start, self.end]
        for dim in (*DIMENSIONS, "user_id"):
            values = getattr(self, dim)
            if values:
                # The rollups store "no prompt" as '', the ledger as NULL.
                column = "COALESCE(prompt_name, '')" if ledger and dim == "prompt_name" else dim
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
                args.extend(values)
        return " AND ".join(clauses), args


def _frame(db: Database, sql: str, args: list[Any]) -> pd.DataFrame:
    import pandas as pd  # lazy: half a second to import, and only the Costs page needs it

    with db.connect() as conn:
        cur = conn.execute(sql, args)
        columns = [d[0] for d in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=columns)


def options(db: Database) -> dict[str, list[str]]:
    """The values each filter can take, and the ledger's first and last day."""
    out: dict[str, list[str]] = {}
    with db.connect() as conn:
        for dim in DIMENSIONS:
            out[dim] = [r[0] for r in conn.execute(
                f"SELECT DISTINCT {dim} FROM calls_daily WHERE {dim} != '' ORDER BY 1")]
        first, last = conn.execute("SELECT MIN(day), MAX(day) FROM calls_daily").fetchone()
        out["user_id"] = [r[0] for r in conn.execute(
            "SELECT DISTINCT user_id FROM calls_daily_users ORDER BY 1")]
    out["days"] = [d for d in (first, last) if d]
    return out


def hit_rate(cache_read: int, input_tokens: int, cache_write: int) -> float | None:
    """Cache reads as a share of all input tokens; None when there was no input."""
    seen = input_tokens + cache_read + cache_write
    return cache_read / seen if seen else None


def totals(db: Database, f: Filters) -> dict[str, int]:
    where, args = f.where()
    with db.connect() as conn:
        row = conn.execute(
            "SELECT COALESCE(SUM(calls), 0), COALESCE(SUM(cost_micro), 0), "
            "COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), "
            "COALESCE(SUM(cache_read_tokens), 0), COALESCE(SUM(cache_write_tokens), 0), "
            "COALESCE(SUM(cache_savings_micro), 0), "
            "COALESCE(SUM(CASE WHEN status = 'error' THEN calls END), 0) "
            f"FROM {f.rollup} WHERE {where}", args).fetchone()
    keys = ("calls", "cost_micro", "input_tokens", "output_tokens", "cache_read_tokens",
            "cache_write_tokens", "cache_savings_micro", "errors")
    return dict(zip(keys, row, strict=True))


def spend_by_day_model(db: Database, f: Filters) -> pd.DataFrame:
    where, args = f.where()
    return _frame(db, "SELECT day, model, SUM(cost_micro) AS cost_micro, SUM(calls) AS calls "
                  f"FROM {f.rollup} WHERE {where} GROUP BY day, model ORDER BY day, model", args)


def tokens_by_day(db: Database, f: Filters) -> pd.DataFrame:
    where, args = f.where()
    return _frame(db, "SELECT day, SUM(input_tokens) AS input_tokens, "
                  "SUM(output_tokens) AS output_tokens, SUM(cache_read_tokens) AS "
                  "cache_read_tokens, SUM(cache_write_tokens) AS cache_write_tokens "
                  f"FROM {f.rollup} WHERE {where} GROUP BY day ORDER BY day", args)


def latency_by_model(db: Database, f: Filters) -> pd.DataFrame:
    """p50 and p95 of time to first token and total time per model (nearest rank).

    The latency histograms are kept per day and model: the date, provider and model filters
    apply; page, prompt and status filters do not.
    """
    where, args = Filters(f.start, f.end, provider=f.provider, model=f.model).where()
    sql = f"""
        WITH h AS (
            SELECT model, metric, bucket, SUM(n) AS n FROM calls_latency WHERE {where}
            GROUP BY model, metric, bucket),
        c AS (
            SELECT model, metric, bucket,
                   SUM(n) OVER (PARTITION BY model, metric ORDER BY bucket) AS cum,
                   SUM(n) OVER (PARTITION BY model, metric) AS total FROM h)
        SELECT model, metric, MAX(total) AS calls,
               MIN(CASE WHEN cum >= 0.50 * total THEN bucket END) AS b50,
               MIN(CASE WHEN cum >= 0.95 * total THEN bucket END) AS b95
        FROM c GROUP BY model, metric ORDER BY model, metric"""
    raw = _frame(db, sql, args)
    rows: dict[str, dict[str, Any]] = {}
    for model, metric, calls, b50, b95 in raw.itertuples(index=False):
        row = rows.setdefault(model, {"model": model})
        row[f"{metric}_p50_ms"] = bucket_value(b50)
        row[f"{metric}_p95_ms"] = bucket_value(b95)
        row["calls"] = max(row.get("calls", 0), int(calls))
    columns = ["model", "calls", "ttft_p50_ms", "ttft_p95_ms", "total_p50_ms", "total_p95_ms"]
    import pandas as pd

    return pd.DataFrame(list(rows.values()), columns=columns)


def errors_by_provider(db: Database, f: Filters) -> pd.DataFrame:
    where, args = f.where()
    df = _frame(db, "SELECT provider, SUM(calls) AS calls, "
                "SUM(CASE WHEN status = 'error' THEN calls ELSE 0 END) AS errors, "
                "SUM(CASE WHEN status = 'incomplete' THEN calls ELSE 0 END) AS incomplete "
                f"FROM {f.rollup} WHERE {where} GROUP BY provider ORDER BY provider", args)
    df["error_rate"] = df["errors"] / df["calls"]
    return df


def cache_by_model(db: Database, f: Filters) -> pd.DataFrame:
    """Cache hit rate (cache reads / all input tokens) and what the reads saved."""
    where, args = f.where()
    df = _frame(db, "SELECT model, SUM(cache_read_tokens) AS cache_read_tokens, "
                "SUM(cache_write_tokens) AS cache_write_tokens, SUM(input_tokens) AS "
                f"input_tokens, SUM(cache_savings_micro) AS savings_micro FROM {f.rollup} "
                f"WHERE {where} GROUP BY model ORDER BY model", args)
    df["hit_rate"] = [hit_rate(r, i, w) or 0.0 for r, i, w in zip(
        df["cache_read_tokens"], df["input_tokens"], df["cache_write_tokens"], strict=True)]
    return df


def top_calls(db: Database, f: Filters, limit: int = 20) -> pd.DataFrame:
    """The most expensive single calls (from the ledger itself, by its cost index)."""
    where, args = f.where(ledger=True)
    return _frame(db, "SELECT id, ts, provider, model, page, prompt_name, prompt_version, "
                  "input_tokens, output_tokens, cache_read_tokens, cost_micro, priced, ttft_ms, "
                  f"total_ms, status, run_id, step FROM calls INDEXED BY calls_cost WHERE {where} "
                  "ORDER BY cost_micro DESC LIMIT ?", [*args, limit])


def latest_calls(db: Database, f: Filters, limit: int = 50) -> pd.DataFrame:
    """The latest calls (newest first, walking the ledger back from its newest row), with the
    name of the HTTP API key a call was made with."""
    where, args = f.where(ledger=True)
    return _frame(db, "SELECT id, ts, provider, model, page, prompt_name, prompt_version, "
                  "input_tokens, output_tokens, cost_micro, priced, ttft_ms, total_ms, status, "
                  "run_id, step, (SELECT name FROM api_keys WHERE api_keys.id = "
                  f"calls.api_key_id) AS api_key FROM calls WHERE {where} ORDER BY id DESC "
                  "LIMIT ?", [*args, limit])


def spend_by_prompt(db: Database, f: Filters) -> pd.DataFrame:
    where, args = f.where()
    return _frame(db, "SELECT prompt_name, prompt_version, SUM(calls) AS calls, "
                  "SUM(cost_micro) AS cost_micro, SUM(input_tokens) AS input_tokens, "
                  f"SUM(output_tokens) AS output_tokens FROM {f.rollup} "
                  f"WHERE {where} AND prompt_name != '' GROUP BY prompt_name, prompt_version "
                  "ORDER BY cost_micro DESC", args)


def structured_by_model(db: Database, f: Filters) -> pd.DataFrame:
    """Replies with an output schema, per model and prompt version: the share valid at once,
    valid after a repair, and still invalid. Read from the ledger through its partial index
    on schema'd calls (only those rows, however large the ledger)."""
    import datetime as dt

    where, args = f.where(ledger=True)
    after = (dt.date.fromisoformat(f.end) + dt.timedelta(days=1)).isoformat()
    df = _frame(db, "SELECT model, COALESCE(prompt_name, '') AS prompt_name, prompt_version, "
                "SUM(CASE WHEN repair_of IS NULL THEN 1 ELSE 0 END) AS replies, "
                "SUM(CASE WHEN structured = 'valid' AND repair_of IS NULL THEN 1 ELSE 0 END) "
                "AS valid, SUM(CASE WHEN structured = 'repaired' THEN 1 ELSE 0 END) AS "
                "repaired, SUM(CASE WHEN repair_of IS NOT NULL THEN 1 ELSE 0 END) AS "
                "repair_calls FROM calls INDEXED BY calls_structured WHERE structured IS NOT "
                f"NULL AND ts >= ? AND ts < ? AND {where} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                [f.start, after, *args])
    df["invalid"] = df["replies"] - df["valid"] - df["repaired"]
    for col in ("valid", "repaired", "invalid"):
        df[f"{col}_rate"] = df[col] / df["replies"].where(df["replies"] > 0)
    return df


def routing_savings(db: Database, f: Filters) -> dict[str, int]:
    """What the router saved: the routed calls' cost on the top model (their baseline) less
    their real cost, and how many there were. Read through the ledger's partial index on
    routed calls."""
    import datetime as dt

    where, args = f.where(ledger=True)
    after = (dt.date.fromisoformat(f.end) + dt.timedelta(days=1)).isoformat()
    with db.connect() as conn:
        calls, saved, baseline = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(baseline_micro - cost_micro), 0), "
            "COALESCE(SUM(baseline_micro), 0) FROM calls INDEXED BY calls_routed "
            f"WHERE baseline_micro IS NOT NULL AND ts >= ? AND ts < ? AND {where}",
            [f.start, after, *args]).fetchone()
    return {"calls": calls, "saved_micro": saved, "baseline_micro": baseline}


def response_cache(db: Database, f: Filters) -> dict[str, int]:
    """Calls that looked up the response cache, its hits and what they saved (partial index)."""
    import datetime as dt

    where, args = f.where(ledger=True)
    after = (dt.date.fromisoformat(f.end) + dt.timedelta(days=1)).isoformat()
    with db.connect() as conn:
        lookups, hits, saved = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN response_cache = 'hit' THEN 1 ELSE 0 "
            "END), 0), COALESCE(SUM(saved_micro), 0) FROM calls INDEXED BY "
            "calls_response_cache WHERE response_cache IS NOT NULL AND ts >= ? AND ts < ? "
            f"AND {where}", [f.start, after, *args]).fetchone()
    return {"lookups": lookups, "hits": hits, "saved_micro": saved}


def unpriced_calls(db: Database, f: Filters) -> int:
    """Calls on a model whose price is unknown (their cost is not in the sums), read through
    the ledger's partial index on them."""
    import datetime as dt

    where, args = f.where(ledger=True)
    after = (dt.date.fromisoformat(f.end) + dt.timedelta(days=1)).isoformat()
    with db.connect() as conn:
        return int(conn.execute(
            "SELECT COUNT(*) FROM calls INDEXED BY calls_unpriced WHERE priced = 0 AND ts >= ? "
            f"AND ts < ? AND {where}", [f.start, after, *args]).fetchone()[0])


def spend_by_user(db: Database, f: Filters, total: dict[str, int] | None = None
                  ) -> pd.DataFrame:
    """Calls, spend, tokens and errors per signed-in user, most spent first; with `total`
    (these filters' totals) and no user filter, the calls made by no one signed in (before
    sign-in was on, or over the HTTP API) are a last row with an empty user."""
    import pandas as pd

    where, args = f.where()
    split = any(getattr(f, dim) for dim in DIMENSIONS)
    errors = "CASE WHEN status = 'error' THEN calls ELSE 0 END" if split else "errors"
    df = _frame(db, "SELECT user_id, SUM(calls) AS calls, SUM(cost_micro) AS cost_micro, "
                "SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, "
                f"SUM({errors}) AS errors FROM "
                f"{'calls_daily_users' if split else 'user_days'} WHERE {where} "
                "GROUP BY user_id ORDER BY cost_micro DESC, user_id", args)
    if total is not None and not f.user_id:
        rest: dict[str, Any] = {"user_id": "", "calls": total["calls"] - int(df["calls"].sum()),
                "cost_micro": total["cost_micro"] - int(df["cost_micro"].sum()),
                "input_tokens": total["input_tokens"] - int(df["input_tokens"].sum()),
                "output_tokens": total["output_tokens"] - int(df["output_tokens"].sum()),
                "errors": total["errors"] - int(df["errors"].sum())}
        if rest["calls"] > 0:
            df = pd.concat([df, pd.DataFrame([rest])], ignore_index=True)
    return df


def dashboard(db: Database, f: Filters) -> dict[str, Any]:
    """Everything the Costs page draws, in one call (what bench_costs times)."""
    total = totals(db, f)
    return {"totals": total, "spend": spend_by_day_model(db, f),
            "tokens": tokens_by_day(db, f), "latency": latency_by_model(db, f),
            "errors": errors_by_provider(db, f), "cache": cache_by_model(db, f),
            "top": top_calls(db, f), "latest": latest_calls(db, f),
            "prompts": spend_by_prompt(db, f),
            "structured": structured_by_model(db, f), "routing": routing_savings(db, f),
            "unpriced": unpriced_calls(db, f), "response_cache": response_cache(db, f),
            "users": spend_by_user(db, f, total)}
