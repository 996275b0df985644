"""Costs page queries over 1M generated ledger rows: our dashboard (rollup tables kept by a
trigger) against the raw SQL aggregates over the calls table computing the same figures
(percentiles exact, by window functions). Goal: at most 1.5x the raw aggregates, under 1 s."""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time

from common import scratch_data_dir

RAW = {
    "totals": "SELECT COUNT(*), SUM(cost_micro), SUM(input_tokens), SUM(output_tokens), "
              "SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(cache_savings_micro), "
              "SUM(status = 'error') FROM calls WHERE substr(ts, 1, 10) BETWEEN ? AND ?",
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
    "errors": "SELECT provider, COUNT(*), SUM(status = 'error') FROM calls WHERE "
              "substr(ts, 1, 10) BETWEEN ? AND ? GROUP BY provider",
    "cache": "SELECT model, SUM(cache_read_tokens), SUM(input_tokens), SUM(cache_savings_micro)"
             " FROM calls WHERE substr(ts, 1, 10) BETWEEN ? AND ? GROUP BY model",
    "top": "SELECT * FROM calls WHERE substr(ts, 1, 10) BETWEEN ? AND ? ORDER BY cost_micro "
           "DESC LIMIT 20",
    "prompts": "SELECT prompt_name, prompt_version, SUM(cost_micro) FROM calls WHERE "
               "substr(ts, 1, 10) BETWEEN ? AND ? AND prompt_name IS NOT NULL "
               "GROUP BY prompt_name, prompt_version",
}


def generate(path, n: int) -> None:
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
            cost_micro=0 if provider == "local" else rng.randint(100, 50_000)))
        if len(batch) == 50_000:
            spend.record_many(path, batch)
            batch.clear()
    if batch:
        spend.record_many(path, batch)


def main(n: int, repeats: int) -> None:
    from lib import spend, storage
    from lib.core import load_settings
    from lib.spend import Filters

    with scratch_data_dir():
        settings = load_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        generate(settings.db_path, n)
        print(f"generated {n:,} ledger rows in {time.perf_counter() - start:.1f} s "
              "(rollups kept by the insert trigger)")
        first, last = spend.options(settings.db_path)["days"]
        f = Filters(first, last)  # the whole ledger: the worst case for both
        ours, raw = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            spend.dashboard(settings.db_path, f)
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            with storage.connect(settings.db_path) as conn:
                for sql in RAW.values():
                    conn.execute(sql, (first, last)).fetchall()
            raw.append(time.perf_counter() - t)
    o, r = statistics.median(ours), statistics.median(raw)
    print(f"{'raw SQL aggregates':<28} median {r * 1000:8.1f} ms over {repeats} runs")
    print(f"{'our dashboard':<28} median {o * 1000:8.1f} ms")
    print(f"{'ratio':<28} {o / r:.3f}x  (goal: <= 1.5x and under 1 s: "
          f"{'met' if o / r <= 1.5 and o < 1 else 'missed'})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    main(args.rows, args.repeats)
