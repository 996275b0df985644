"""Side by side with LiteLLM's proxy: the same fast fake upstream on loopback
(bench/fast_upstream.py), the same load generator (bench_api's: streaming clients looping for
a fixed time), the same concurrency and the same number of server processes, one after the
other in this run.

Ours is bench_api's load part (a priced model under a key budget: every request reserves,
records and settles in the ledger). LiteLLM's proxy runs from its own virtual environment,
made here under .cache/bench-litellm/ (gitignored) on first use, with one model pointing at
the same upstream with the same prices, a master key, and its Prometheus callback. Its spend
logs need its database (PostgreSQL through Prisma, whose engines are downloaded at run time:
not possible here), so without one it keeps no per-request rows; what it records is its
Prometheus counters (requests, tokens, spend; in memory, lost on restart), and those are what
its "rows lost" counts against.

Printed for both: requests/s, time to first token p50/p95/p99, rows lost; then ours against
LiteLLM's. Goal: at least LiteLLM's throughput at no worse p95, with every ledger row kept.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator

from bench_api import fast_upstream, free_port, load, streaming_clients, wait_up
from common import ROOT, pct

# The newest release whose `proxy` extra resolves from the package index here (1.109.0 and
# later pin litellm-proxy-extras / litellm-proxy releases the index does not have); well
# after the compromised 1.82.7 and 1.82.8.
VERSION = "1.108.7"
HOME = ROOT / ".cache" / "bench-litellm"
VENV = HOME / "venv"
MASTER_KEY = "sk-bench-master"
CONFIG = """\
model_list:
  - model_name: compat/fast
    litellm_params:
      model: openai/fast
      api_base: {upstream}
      api_key: unused
      input_cost_per_token: 0.000001    # $1 and $2 a million, as ours
      output_cost_per_token: 0.000002
litellm_settings:
  callbacks: ["prometheus"]
  require_auth_for_metrics_endpoint: false
general_settings:
  master_key: {master}
"""


def installed() -> str:
    """LiteLLM's proxy in its own venv, pinned; made (python -m venv, pip) when missing."""
    python = VENV / "bin" / "python"
    probe = [str(python), "-c", "import litellm, prometheus_client, importlib.metadata as m; "
             "print(m.version('litellm'))"]
    if python.exists():
        found = subprocess.run(probe, capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip() == VERSION:
            return str(VENV / "bin" / "litellm")
    print(f"installing litellm[proxy]=={VERSION} into {VENV} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    # prometheus-client: its /metrics needs it, and only the heavy `proxy-runtime` extra
    # (the Vertex, Anthropic and Langfuse SDKs) brings it.
    subprocess.run([str(python), "-m", "pip", "install", "-q", f"litellm[proxy]=={VERSION}",
                    "prometheus-client"], check=True)
    return str(VENV / "bin" / "litellm")


@contextlib.contextmanager
def litellm_proxy(upstream: str, workers: int) -> Iterator[str]:
    """LiteLLM's proxy over `upstream` with `workers` uvicorn workers; yields its /v1 URL."""
    binary = installed()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-litellm-") as tmp:
        config = os.path.join(tmp, "config.yaml")
        with open(config, "w") as f:
            f.write(CONFIG.format(upstream=upstream, master=MASTER_KEY))
        os.mkdir(metrics := os.path.join(tmp, "metrics"))
        env = {**os.environ, "LITELLM_LOG": "ERROR", "PROMETHEUS_MULTIPROC_DIR": metrics}
        with open(HOME / "proxy.log", "wb") as log:
            proc = subprocess.Popen(
                [binary, "--config", config, "--host", "127.0.0.1", "--port", str(port),
                 "--num_workers", str(workers)], cwd=tmp, env=env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
            try:
                wait_up(f"http://127.0.0.1:{port}/health/liveliness", proc, timeout=180)
                yield f"http://127.0.0.1:{port}/v1"
            finally:
                os.killpg(proc.pid, 15)  # the CLI and its uvicorn workers
                proc.wait(30)


def recorded(url: str) -> tuple[int, float]:
    """(requests, spend in $) LiteLLM's Prometheus counters hold for the model."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url.removesuffix("/v1") + "/metrics/", timeout=10) as r:
        text = r.read().decode()
    got = {"litellm_requests_metric": 0.0, "litellm_spend_metric": 0.0}
    for family in text_string_to_metric_families(text):
        if family.name in got:
            got[family.name] += sum(s.value for s in family.samples
                                    if s.name.endswith("_total"))
    return int(got["litellm_requests_metric"]), got["litellm_spend_metric"]


def settled(url: str, timeout: float = 15) -> tuple[int, float]:
    """Its counters once they stop moving (its callbacks run after a stream has ended)."""
    last, deadline = recorded(url), time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1)
        now = recorded(url)
        if now == last:
            break
        last = now
    return last


def litellm_load(clients: int, seconds: float, workers: int) -> tuple[float, list[float], int]:
    """(requests/s, first-token times in ms, requests its counters lost)."""
    with fast_upstream() as upstream, litellm_proxy(upstream, workers) as url:
        asyncio.run(streaming_clients(url, MASTER_KEY, 5, 1))  # warm up
        before, spent_before = settled(url)
        started, completed, ttfts, took = asyncio.run(
            streaming_clients(url, MASTER_KEY, clients, seconds))
        after, spent = settled(url)
    counted, spent = after - before, spent - spent_before
    print(f"{'clients x seconds':<28} {clients} x {seconds:g} s (streaming, 16 chunks each)")
    print(f"{'requests completed':<28} {completed} of {started} started "
          f"({completed / took:.1f} req/s)")
    print(f"{'TTFT under load':<28} p50={pct(ttfts, 50):8.2f} ms  p95={pct(ttfts, 95):8.2f} ms"
          f"  max={max(ttfts):8.2f} ms")
    print(f"{'its Prometheus counters':<28} {counted} requests, ${spent:.6f} spent "
          f"(expected ${completed * 44e-6:.6f}); no per-request rows without its database")
    print(f"{'requests not counted':<28} {started - counted}")
    return completed / took, ttfts, started - counted


def main(clients: int, seconds: float, workers: int) -> bool:
    print(f"-- ours: python -m lib.api, {workers} workers")
    ours = load(clients, seconds, workers)
    print(f"-- LiteLLM {VERSION} proxy, {workers} workers (its own venv)")
    rps, ttfts, lost = litellm_load(clients, seconds, workers)
    print(f"-- side by side ({clients} streaming clients, {seconds:g} s each, one after the "
          "other; a shared, busy machine)")
    print(f"{'':<12} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'lost':>6}")
    for name, r, t, n in (("ours", ours.rps, ours.ttfts, ours.lost),
                          ("LiteLLM", rps, ttfts, lost)):
        print(f"{name:<12} {r:8.1f} {pct(t, 50):8.2f} {pct(t, 95):8.2f} {pct(t, 99):8.2f} "
              f"{n:6d}")
    faster, p95 = ours.rps / rps, pct(ours.ttfts, 95) / pct(ttfts, 95)
    print(f"{'ours / LiteLLM':<28} throughput {faster:.2f}x, p95 TTFT {p95:.2f}x  "
          f"(goal: throughput >= 1, p95 <= 1, ours lost 0)")
    return ours.ok and faster >= 1 and p95 <= 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                        help="server processes for each (default: the CPU count, as ours)")
    args = parser.parse_args()
    sys.exit(0 if main(args.clients, args.seconds, args.workers) else 1)
