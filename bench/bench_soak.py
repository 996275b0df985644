"""Memory soak: the API process (one worker) under a steady streaming load.

A fixed arrival rate (default 20 requests/s, each a streamed reply from the fast fake
upstream, bench/fast_upstream.py, on a priced model under a key budget, so every request
reserves, records and settles) for `--minutes` (default 2, what bench/run_all.py can afford;
the full soak is `--minutes 10`). The process's resident memory (VmRSS in /proc) is sampled
every 10 s after the warm-up (default 1 minute), against the requests completed so far.

Printed: the samples, the growth per 10,000 requests (the least-squares slope of RSS against
requests) with its 95% interval, the same over the second half of the samples, and the
process's threads (the API's call pool grows to what the load needs; on SQLite each thread
keeps a connection whose page cache holds up to 2 MiB). Noise, here: the slope's 95%
interval (twice its standard error, from the samples' scatter around the line): memory is
flat when that interval contains zero. A slope outside it but under a floor of 1 MiB per
10,000 requests (about 100 bytes a request) is printed as measurable and still passes; at
or over the floor the run fails. The baseline, from the same run: the RSS at the end of
the warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from bench_api import PROMPT, api_process, fast_upstream, priced_key
from common import pct, scratch_data_dir

FLOOR_KIB = 1024  # per 10,000 requests: below this the growth counts as flat anyway


def status(pid: int) -> tuple[int, int]:
    """(resident KiB, threads) of a process, from /proc."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["VmRSS"].split()[0]), int(fields["Threads"])


async def steady(url: str, secret: str, rate: float, seconds: float, warmup: float,
                 pid: int) -> tuple[int, int, list[str], list[tuple[float, int, int, int]]]:
    """(started, completed, failures, samples as (s since start, completed, RSS KiB,
    threads))."""
    import httpx

    body = {"model": "compat/fast", "stream": True, "max_tokens": 64,
            "messages": [{"role": "user", "content": PROMPT}]}
    started = completed = 0
    failed: list[str] = []
    samples: list[tuple[float, int, int, int]] = []
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60,
                                 headers={"authorization": f"Bearer {secret}"}) as client:

        async def one() -> None:
            nonlocal completed
            try:
                async with client.stream("POST", "/chat/completions", json=body) as r:
                    done = False
                    async for line in r.aiter_lines():
                        done = done or line == "data: [DONE]"
                if r.status_code == 200 and done:
                    completed += 1
                else:
                    failed.append(f"HTTP {r.status_code}")
            except httpx.HTTPError as exc:
                failed.append(type(exc).__name__)

        async def sampler(t0: float) -> None:
            next_at = t0 + warmup
            while next_at <= t0 + seconds + 0.5:
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                samples.append((time.monotonic() - t0, completed, *status(pid)))
                next_at += 10

        t0 = time.monotonic()
        tasks = [asyncio.create_task(sampler(t0))]
        # Open loop: the n-th request starts at n / rate, whether or not earlier ones ended.
        while (at := t0 + started / rate) < t0 + seconds:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            started += 1
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return started, completed, failed, samples


def main(minutes: float, rate: float, warmup: float) -> bool:
    from scipy import stats

    from lib import api

    with fast_upstream() as upstream, scratch_data_dir():
        env, settings, key = priced_key(upstream)
        env["PROMPTLAB_API_WORKERS"] = "1"  # one process: its RSS is the server's
        with api_process(env) as (url, proc):
            warm = api.get_key(settings.db, key.key.id).calls
            started, completed, failed, samples = asyncio.run(
                steady(url, key.secret, rate, minutes * 60, warmup, proc.pid))
        with settings.db.connect() as conn:
            rows = conn.execute("SELECT COUNT(*) FROM calls WHERE page = 'api'").fetchone()[0]
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        counted = api.get_key(settings.db, key.key.id).calls - warm
    took = minutes * 60
    print(f"{'load':<28} {rate:g} req/s streaming for {minutes:g} min, one API worker "
          f"(shared, busy machine)")
    print(f"{'requests completed':<28} {completed} of {started} started "
          f"({completed / took:.1f} req/s)"
          + (f"; failed {len(failed)}: {', '.join(sorted(set(failed)))}" if failed else ""))
    print(f"{'ledger rows':<28} {rows}; the key counted {counted}; lost {started - rows}")
    print(f"{'database at the end':<28} {pages * page_size / 2**20:.1f} MiB (SQLite; each "
          f"thread's connection caches up to 2 MiB of it)")
    for t, n, kib, threads in samples:
        print(f"  t={t:6.0f} s  requests={n:6d}  RSS={kib / 1024:8.1f} MiB  threads={threads}")
    if len(samples) < 3:
        print("too few samples after the warm-up for a slope: run longer (--minutes)")
        return False
    fit = stats.linregress([s[1] for s in samples], [s[2] for s in samples])
    per10k, ci = fit.slope * 10_000, 2 * fit.stderr * 10_000
    base = samples[0][2]
    spread = [s[2] - base for s in samples]
    print(f"{'RSS after warm-up (baseline)':<28} {base / 1024:.1f} MiB; then "
          f"min {min(spread):+d} KiB, max {max(spread):+d} KiB, "
          f"last {spread[-1]:+d} KiB ({spread[-1] / base:+.2%})")
    verdict = ("flat (within noise)" if abs(per10k) <= ci else
               f"measurable, under the {FLOOR_KIB} KiB floor" if abs(per10k) < FLOOR_KIB else
               "GROWING")
    print(f"{'growth per 10,000 requests':<28} {per10k:+.0f} KiB ± {ci:.0f} KiB (95%), "
          f"{per10k / base:+.3%} of the baseline per 10,000: {verdict}  "
          f"(goal: flat after warm-up)")
    late = samples[len(samples) // 2:]
    if len(late) >= 3:  # growth that stops early (a pool filling) against a steady leak
        tail = stats.linregress([s[1] for s in late], [s[2] for s in late])
        print(f"{'  in the second half':<28} {tail.slope * 10_000:+.0f} KiB "
              f"± {2 * tail.stderr * 10_000:.0f} KiB (95%) per 10,000 requests")
    print(f"{'sampled over':<28} {samples[-1][1] - samples[0][1]} requests, "
          f"p50 RSS {pct([s[2] / 1024 for s in samples], 50):.1f} MiB")
    return verdict != "GROWING" and not failed and started == rows == counted


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=2)
    parser.add_argument("--rate", type=float, default=20, help="requests per second")
    parser.add_argument("--warmup", type=float, default=60, help="seconds before sampling")
    args = parser.parse_args()
    sys.exit(0 if main(args.minutes, args.rate, args.warmup) else 1)
