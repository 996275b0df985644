"""Bucket the latencies of calls recorded before 0005, then roll every call up."""

from __future__ import annotations

from typing import Any

from lib.core import latency_bucket


def _backfill_rollups(conn: Any) -> None:
    rows = conn.execute("SELECT id, ttft_ms, total_ms FROM calls").fetchall()
    conn.executemany("UPDATE calls SET ttft_bucket = ?, total_bucket = ? WHERE id = ?",
                     [(latency_bucket(r[1]), latency_bucket(r[2]), r[0]) for r in rows])
    dims = ("substr(ts, 1, 10), provider, model, page, COALESCE(prompt_name, ''), "
            "COALESCE(prompt_version, 0), status")
    conn.execute(f"INSERT INTO calls_daily SELECT {dims}, COUNT(*), SUM(cost_micro), "
                 "SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), "
                 f"SUM(cache_write_tokens), SUM(cache_savings_micro) FROM calls GROUP BY {dims}")
    for metric in ("ttft", "total"):
        conn.execute(f"INSERT INTO calls_latency SELECT substr(ts, 1, 10), provider, model, "
                     f"'{metric}', {metric}_bucket, COUNT(*) FROM calls WHERE {metric}_bucket "
                     f"IS NOT NULL GROUP BY substr(ts, 1, 10), provider, model, {metric}_bucket")


NAME = "0006_backfill_rollups"
STEP = _backfill_rollups
