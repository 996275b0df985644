"""Cache hit latency, through the API over HTTP: a streamed request answered from the
response cache against the same request answered live by the fast fake upstream
(bench/fast_upstream.py, loopback, 16 chunks), timed by the client to the last byte.

One API process (one worker) per store: the database (SQLite in a scratch data dir), then
Redis (a throwaway redis-server on loopback, as the tests start it). The key is made with the
cache; each round sends, interleaved, the request with `Cache-Control: no-cache, no-store`
(the cache off: a live call, the baseline), with `no-cache` alone (a live call that writes
its reply: what a miss costs), and plain (a hit, checked by its `x-promptlab-cache` header).
Every request is priced under a key budget, so each one reserves, records a ledger row and
settles, a hit as a cached $0 row.

Printed per store: p50/p95 of each and the ratio hit / live.
"""

from __future__ import annotations

import argparse
import sys
import time

from bench_api import PROMPT, api_server, fast_upstream, priced_key
from common import ROOT, pct, scratch_data_dir, summary

sys.path.insert(0, str(ROOT / "tests"))  # the tests' throwaway Redis server

BODY = {"model": "compat/fast", "stream": True, "max_tokens": 64,
        "messages": [{"role": "user", "content": PROMPT}]}
LIVE, MISS, HIT = "no-cache, no-store", "no-cache", None


def timed(client, cache_control: str | None) -> tuple[float, str | None]:
    """(ms to the last byte, the x-promptlab-cache header) of one streamed request."""
    headers = {"cache-control": cache_control} if cache_control else {}
    start = time.perf_counter()
    with client.stream("POST", "/chat/completions", json=BODY, headers=headers) as r:
        body = b"".join(r.iter_bytes())
    took = (time.perf_counter() - start) * 1000
    if r.status_code != 200 or not body.rstrip().endswith(b"data: [DONE]"):
        raise RuntimeError(f"HTTP {r.status_code}: {body[-200:]!r}")
    return took, r.headers.get("x-promptlab-cache")


def store(name: str, n: int, redis_url: str | None) -> float:
    """Print one store's figures; returns hit p50 / live p50."""
    import httpx

    with fast_upstream() as upstream, scratch_data_dir():
        env, settings, key = priced_key(upstream, cache=True)
        env["PROMPTLAB_API_WORKERS"] = "1"
        if redis_url:
            env["PROMPTLAB_REDIS_URL"] = redis_url
        with api_server(env) as url, httpx.Client(
                base_url=url, timeout=30,
                headers={"authorization": f"Bearer {key.secret}"}) as client:
            for _ in range(20):  # warm: connections, the first write, then hits
                timed(client, LIVE), timed(client, MISS), timed(client, HIT)
            series: dict[str | None, list[float]] = {LIVE: [], MISS: [], HIT: []}
            for i in range(n):
                order = [LIVE, MISS, HIT] if i % 2 else [HIT, MISS, LIVE]
                for cc in order:
                    ms, status = timed(client, cc)
                    want = "hit" if cc is HIT else "miss" if cc == MISS else None
                    if status != want:
                        raise RuntimeError(f"{cc!r}: x-promptlab-cache {status!r}, not {want!r}")
                    series[cc].append(ms)
        with settings.db.connect() as conn:
            rows = conn.execute(
                "SELECT status, COALESCE(response_cache, 'off'), COUNT(*), SUM(cost_micro), "
                "SUM(saved_micro) FROM calls WHERE page = 'api' GROUP BY 1, 2 ORDER BY 1, 2"
            ).fetchall()
    print(f"-- {name} store ({n} rounds, interleaved; one API worker; a shared, busy machine)")
    print(summary("live call (cache off)", series[LIVE]))
    print(summary("live call + write (no-cache)", series[MISS]))
    print(summary("cache hit", series[HIT]))
    print(f"{'ledger rows':<28} " + "; ".join(
        f"{status}/{cache}: {n} (${cost / 1e6:.4f} spent, ${saved / 1e6:.4f} saved)"
        for status, cache, n, cost, saved in rows))
    live, hit = series[LIVE], series[HIT]
    ratio = pct(hit, 50) / pct(live, 50)
    print(f"{'hit / live':<28} p50 {ratio:.2f}x, p95 {pct(hit, 95) / pct(live, 95):.2f}x  "
          f"(goal: a hit no slower than a live call to the fastest upstream)")
    return ratio


def main(n: int) -> bool:
    from redisserver import RedisServer

    ratios = [store("database (SQLite)", n, None)]
    server = RedisServer()
    try:
        server.start()
        ratios.append(store("Redis", n, server.url))
    finally:
        server.close()
    return all(r <= 1 for r in ratios)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000, help="rounds per store")
    args = parser.parse_args()
    sys.exit(0 if main(args.requests) else 1)
