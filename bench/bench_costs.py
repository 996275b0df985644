"""Costs page queries over 1M generated ledger rows made by 12 signed-in users (and some by
nobody): our dashboard (rollup tables kept by a trigger, and the per-user rollup kept by the
ledger's insert) against the raw SQL aggregates over the calls table computing the same
figures (percentiles exact, by window functions), over everyone and filtered to one user.
Run on SQLite and on PostgreSQL (`--database`; a throwaway server from Debian's package, as
the tests start). Goal on each: at most 1.5x the raw aggregates, under 1 s."""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
from typing import TYPE_CHECKING

from common import ROOT, scratch_data_dir

if TYPE_CHECKING:
    from lib.storage import Database

sys.path.insert(0, str(ROOT / "tests"))  # pgserver: the tests' throwaway PostgreSQL

RAW = {
    "totals": "SELECT COUNT(*), SUM(cost_micro), SUM(input_tokens), SUM(output_tokens), "
              "SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(cache_savings_micro), "
              "SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) FROM calls WHERE "
              "substr(ts, 1, 10) BETWEEN ? AND ?",
    "spend": "SELECT substr(ts, 1, 10) d, model, SUM(cost_micro) FROM calls WHERE "
             "substr(ts, 1, 10) BETWEEN ? AND ? GROUP BY d, model",
    "tokens": "SELECT substr(ts, 1, 10) d, SUM(input_tokens), SUM(output_tokens), "
              "SUM(cache_read_tokens), SUM(cache_write_tokens) FROM calls WHERE "
              "substr(ts, 1, 10) BETWEEN ? AND ? GROUP BY d",
    "latency": """WITH r AS (SELECT model, ttft_ms, ROW_NUMBER() OVER (PARTITION BY model ORDER
              BY ttft_ms) rn, COUNT(*) OVER (PARTITION BY model) n FROM calls WHERE
              substr(ts, 1, 10) BETWEEN ? AND ? AND ttft_ms IS NOT NULL)
              SELECT model, MIN(CASE WHEN rn >= 0.5 * n THEN ttft_ms END),
              MIN(CASE WHEN rn >= 0.95 * n THEN ttft_ms END) FROM r GROUP BY model""",
    "errors": "SELECT provider, COUNT(*), SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) "
              "FROM calls WHERE substr(ts, 1, 10) BETWEEN ? AND ? GROUP BY provider",
    "cache": "SELECT model, SUM(cache_read_tokens), SUM(input_tokens), SUM(cache_savings_micro)"
             " FROM calls WHERE substr(ts, 1, 10) BETWEEN ? AND ? GROUP BY model",
    "top": "SELECT * FROM calls WHERE substr(ts, 1, 10) BETWEEN ? AND ? ORDER BY cost_micro "
           "DESC LIMIT 20",
    "prompts": "SELECT prompt_name, prompt_version, SUM(cost_micro) FROM calls WHERE "
               "substr(ts, 1, 10) BETWEEN ? AND ? AND prompt_name IS NOT NULL "
               "GROUP BY prompt_name, prompt_version",
    "users": "SELECT user_id, COUNT(*), SUM(cost_micro), SUM(input_tokens), "
             "SUM(output_tokens), SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) FROM calls "
             "WHERE substr(ts, 1, 10) BETWEEN ? AND ? GROUP BY user_id",
}
USERS = [f"user{i}@example.com" for i in range(12)]


def generate(db: Database, n: int) -> None:
    from lib import spend

    rng = random.Random(11)
    models = [("local", "smollm2-135m-instruct"), ("anthropic", "claude-haiku-4-5"),
              ("anthropic", "claude-sonnet-4-5"), ("openai", "gpt-4.1"), ("openai", "gpt-5-mini")]
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    batch = []
    for i in range(n):
        provider, model = models[rng.randrange(len(models))]
        ttft = rng.lognormvariate(6, 0.5)
        total = ttft + rng.lognormvariate(7, 0.7)
        prompt = rng.choice((None, "classifier", "summarizer", "code-reviewer"))
        batch.append(spend.CallRecord(
            ts=(start + dt.timedelta(seconds=i * 31)).isoformat(timespec="milliseconds"),
            page=rng.choice(("chat", "compare")), provider=provider, model=model, attempts=1,
            status=rng.choices(("ok", "error", "incomplete"), (90, 6, 4))[0], total_ms=total,
            ttft_ms=ttft, prompt_name=prompt,
            prompt_version=rng.randint(1, 4) if prompt else None,
            input_tokens=rng.randint(10, 4000), output_tokens=rng.randint(1, 800),
            cache_read_tokens=rng.randint(0, 2000),
            cost_micro=0 if provider == "local" else rng.randint(100, 50_000),
            user_id=rng.choice(USERS) if rng.random() < 0.9 else None))
        if len(batch) == 50_000:
            spend.record_many(db, batch)
            batch.clear()
    if batch:
        spend.record_many(db, batch)


def run(database: Database, n: int, repeats: int) -> bool:
    """Generate the ledger in `database` (SQLite or PostgreSQL), time both."""
    from lib import spend
    from lib.spend import Filters

    start = time.perf_counter()
    generate(database, n)
    print(f"generated {n:,} ledger rows in {time.perf_counter() - start:.1f} s "
          "(rollups kept by the insert trigger)")
    if database.kind == "postgresql":  # what autovacuum does shortly after a bulk load
        with database.connect() as conn:
            conn.execute("ANALYZE")
    first, last = spend.options(database)["days"]
    # The whole ledger: the worst case for both; then one user's part of it (the raw
    # aggregates filtered to that user, with no index on the user to help them).
    met = timed(database, "everyone", Filters(first, last), repeats)
    return met & timed(database, "one user", Filters(first, last, user_id=(USERS[0],)), repeats)


def timed(database, label: str, f, repeats: int) -> bool:
    """Our dashboard against the raw aggregates, under the same filters."""
    from lib import spend

    where = " AND user_id = ?" if f.user_id else ""
    raw_sql = [sql.replace("BETWEEN ? AND ?", f"BETWEEN ? AND ?{where}") for sql in RAW.values()]
    args = (f.start, f.end, *f.user_id)
    ours, raw = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        spend.dashboard(database, f)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        with database.connect() as conn:
            for sql in raw_sql:
                conn.execute(sql, args).fetchall()
        raw.append(time.perf_counter() - t)
    o, r = statistics.median(ours), statistics.median(raw)
    met = o / r <= 1.5 and o < 1
    print(f"{label}: {'raw SQL aggregates':<28} median {r * 1000:8.1f} ms over {repeats} runs")
    print(f"{label}: {'our dashboard':<28} median {o * 1000:8.1f} ms")
    print(f"{label}: {'ratio':<28} {o / r:.3f}x  (goal: <= 1.5x and under 1 s: "
          f"{'met' if met else 'missed'})")
    return met


def main(n: int, repeats: int, databases: list[str]) -> bool:
    from lib.core import load_settings
    from lib.storage import Database

    met = True
    with scratch_data_dir():
        if "sqlite" in databases:
            print("-- SQLite (data/promptlab.sqlite3)")
            settings = load_settings()
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            met &= run(settings.db, n, repeats)
        if "postgres" in databases:
            import pgserver

            with pgserver.running() as server:
                url = server.fresh_database()
                print(f"-- PostgreSQL {pgserver.bin_dir().parent.name} (PROMPTLAB_DATABASE_URL)")
                met &= run(Database.postgresql(url), n, repeats)
    return met


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    args = parser.parse_args()
    chosen = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    sys.exit(0 if main(args.rows, args.repeats, chosen) else 1)
