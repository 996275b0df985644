"""A Prometheus scrape of /metrics (lib.api.metrics) over 100k generated ledger rows on SQLite,
the whole exposition built (its aggregate query, the labels, the text): a process's first
scrape (every row), and later ones with 1,000 rows added since the last; beside the floor of
reading the whole ledger at each scrape, one bare COUNT(*) grouped by the same dimensions.
Goal: a later scrape under 100 ms."""

from __future__ import annotations

import random
import sys
import time

from common import pct, scratch_data_dir

ROWS = 100_000
NEW = 1_000           # rows added between two scrapes: 4,000 calls a minute, scraped every 15 s
RUNS = 10
GOAL_MS = 100.0       # a scrape after NEW more calls


def rows(rng: random.Random, n: int, start: int = 0) -> list:
    from lib.spend import CallRecord

    models = [("compat", "fake-model"), ("openai", "gpt-5-mini"), ("anthropic", "claude-x"),
              ("local", "smollm2-135m-instruct"), ("compat", "someones-own-model")]
    pages = ["api", "chat", "compare", "judge", "agents"]
    out = []
    for i in range(start, start + n):
        provider, model = rng.choice(models)
        failed = rng.random() < 0.05
        total = rng.lognormvariate(7, 1)
        out.append(CallRecord(
            f"2026-05-{1 + i % 28:02d}T10:00:00+00:00", rng.choice(pages), provider, model, 1,
            "error" if failed else "ok", total_ms=total,
            ttft_ms=None if failed else total * rng.random(),
            input_tokens=rng.randint(10, 4000), output_tokens=rng.randint(0, 800),
            cost_micro=rng.randint(0, 5000), api_key_id=rng.choice([None, 1, 2, 3, 4]),
            error_kind="server" if failed else None, prompt_name=f"prompt {i % 500}"))
    return out


def timed(fn, runs: int = RUNS) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> int:
    with scratch_data_dir():
        from prometheus_client import CollectorRegistry, generate_latest

        from lib.api import LedgerCollector
        from lib.core import get_settings
        from lib.spend import record_many

        settings = get_settings()
        rng = random.Random(7)
        for start in range(0, ROWS, 10_000):
            record_many(settings.db, rows(rng, 10_000, start))

        def registry() -> CollectorRegistry:
            made = CollectorRegistry(auto_describe=False)
            made.register(LedgerCollector(settings))
            return made

        def floor() -> None:
            with settings.db.connect() as conn:
                conn.execute("SELECT provider, model, page, api_key_id, status, error_kind, "
                             "COUNT(*) FROM calls GROUP BY provider, model, page, "
                             "api_key_id, status, error_kind").fetchall()

        bare = timed(floor)
        first = timed(lambda: generate_latest(registry()))  # a process's first scrape
        scraping = registry()
        text = generate_latest(scraping)
        later = []
        for n in range(RUNS):
            record_many(settings.db, rows(rng, NEW, ROWS + n * NEW))
            later += timed(lambda: generate_latest(scraping), 1)
    lines = text.count(b"\n")
    print(f"{ROWS:,} ledger rows; the exposition: {len(text):,} bytes, {lines:,} lines")
    print(f"bare grouped count    p50={pct(bare, 50):7.1f} ms  p95={pct(bare, 95):7.1f} ms")
    print(f"first scrape          p50={pct(first, 50):7.1f} ms  p95={pct(first, 95):7.1f} ms"
          "  (every row, once a process)")
    print(f"scrape, {NEW:,} new rows p50={pct(later, 50):7.1f} ms  p95={pct(later, 95):7.1f} ms"
          f"  (goal: under {GOAL_MS:.0f} ms)")
    return 0 if pct(later, 95) < GOAL_MS else 1


if __name__ == "__main__":
    sys.exit(main())
