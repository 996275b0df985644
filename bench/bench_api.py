"""The HTTP API (`python -m lib.api`, its own process, as `make serve` runs it).

1. Added time to first token: the openai SDK streaming from llama.cpp's OpenAI-compatible
   server on loopback directly, against the same SDK streaming the same request through the
   API (key check, catalog, fallback chain, retry loop, breaker, limiter, ledger row), paired
   and interleaved, with an A/A control (direct against direct) for the noise floor.
   Goal: added p50 <= 2 ms.
2. Load: 50 concurrent streaming clients for 60 s against the API backed by a fast fake
   upstream on loopback (bench/fast_upstream.py), on a priced model under a key budget, so
   every request reserves, records and settles. Requests/s, time to first token p50 / p95,
   and the ledger counted: every completed request has its row (goal: zero lost).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import llama_server, paired, pct, scratch_data_dir, summary

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PROMPT = "Name one colour."
# A chunk with text in it (not a role-only or empty-content chunk), in any JSON spacing.
_TEXT = re.compile(r'"content":\s*"[^"]')


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{url} did not come up") from None
            time.sleep(0.2)


@contextlib.contextmanager
def fast_upstream(chunks: int = 16) -> Iterator[str]:
    """bench/fast_upstream.py in its own process; yields its /v1 URL."""
    port = free_port()
    fake = subprocess.Popen([sys.executable, str(HERE / "fast_upstream.py"), str(port),
                             str(chunks)])
    try:
        wait_up(f"http://127.0.0.1:{port}/v1/models", fake)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        fake.terminate()
        fake.wait(10)


@contextlib.contextmanager
def api_process(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen]]:
    """The API in its own process, over the scratch data dir; yields its /v1 URL and the
    process (with one worker, the one that serves)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "lib.api"], cwd=ROOT,
                            env={**os.environ, **env, "PROMPTLAB_API_PORT": str(port),
                                 "PROMPTLAB_LOG_LEVEL": "WARNING"},
                            stdout=subprocess.DEVNULL)  # its warnings and errors show
    try:
        wait_up(f"http://127.0.0.1:{port}/health", proc)
        yield f"http://127.0.0.1:{port}/v1", proc
    finally:
        proc.terminate()
        proc.wait(15)


@contextlib.contextmanager
def api_server(env: dict[str, str]) -> Iterator[str]:
    """The API in its own process, over the scratch data dir; yields its /v1 URL."""
    with api_process(env) as (url, _proc):
        yield url


def added_ttft(n: int) -> float:
    import openai

    from lib import api
    from lib.core import load_settings

    with llama_server() as upstream, scratch_data_dir():
        env = {"PROMPTLAB_OPENAI_BASE_URL": upstream, "PROMPTLAB_OPENAI_MODELS": "smollm2",
               "PROMPTLAB_OPENAI_CONTEXT_WINDOW": "2048"}
        settings = load_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        secret = api.create_key(settings.db, "bench").secret
        with api_server(env) as url:
            direct = openai.OpenAI(api_key="x", base_url=upstream, max_retries=0)
            ours = openai.OpenAI(api_key=secret, base_url=url, max_retries=0)

            def first_token(client: openai.OpenAI, model: str) -> float:
                start = time.perf_counter()
                stream = client.chat.completions.create(
                    model=model, stream=True, temperature=0.0, max_tokens=4,
                    messages=[{"role": "user", "content": PROMPT}])
                first = None
                for chunk in stream:
                    if first is None and chunk.choices and chunk.choices[0].delta.content:
                        first = time.perf_counter()
                assert first is not None, "no text came back"
                return (first - start) * 1000

            def raw() -> float:
                return first_token(direct, "smollm2")

            def through() -> float:
                return first_token(ours, "compat/smollm2")

            ours.models.list()  # waits for the API's one-off check of the bundled model
            for _ in range(15):  # warm both paths, the server's prompt cache, the API's SDK
                raw(), through()
            raws, apis, controls = [], [], []
            for i in range(n):
                if i % 2:  # alternate which goes first
                    raws.append(raw())
                    apis.append(through())
                else:
                    apis.append(through())
                    raws.append(raw())
                controls.append(raw())
        with settings.db.connect() as conn:
            calls = [r[0] for r in conn.execute(
                "SELECT ttft_ms FROM calls WHERE page = 'api' AND status = 'ok' ORDER BY id")]
    print(f"{'ledger rows (page api, ok)':<28} {len(calls)} of {n + 15} requests")
    paired("A/A control (noise floor)", "direct, SDK -> llama.cpp", raws,
           "direct again", controls, "about 0")
    # Where it goes: each request's call (inside the API: its SDK request to llama.cpp and
    # the first token back) timed by the call itself, in its ledger row; the rest is the
    # client's SDK, the hop to the API, the key check, building and reserving the call.
    print(summary("the call in the API (ledger)", calls[-n:]))
    print(summary("API TTFT minus its call", [a - c for a, c in zip(apis, calls[-n:],
                                                                   strict=True)]))
    return paired("added TTFT (paired)", "direct, SDK -> llama.cpp", raws,
                  "SDK -> API -> llama.cpp", apis, "p50 <= 2 ms")


async def streaming_clients(url: str, secret: str, clients: int, seconds: float
                   ) -> tuple[int, int, list[float], float]:
    """(started, completed, ttfts in ms, elapsed s) of `clients` looping for `seconds`."""
    import httpx

    body = {"model": "compat/fast", "stream": True, "max_tokens": 64,
            "messages": [{"role": "user", "content": PROMPT}]}
    headers = {"authorization": f"Bearer {secret}"}
    started = completed = 0
    ttfts: list[float] = []
    failed: list[str] = []
    limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=clients + 10)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits,
                                 timeout=60) as client:
        deadline = time.monotonic() + seconds

        async def one_client() -> None:
            nonlocal started, completed
            while time.monotonic() < deadline:
                started += 1
                t0, first, done = time.perf_counter(), None, False
                try:
                    async with client.stream("POST", "/chat/completions", json=body) as r:
                        async for line in r.aiter_lines():
                            if first is None and _TEXT.search(line):
                                first = time.perf_counter()
                            if line == "data: [DONE]":
                                done = True
                except httpx.HTTPError as exc:
                    failed.append(f"{type(exc).__name__} after "
                                  f"{(time.perf_counter() - t0) * 1000:.0f} ms")
                    continue
                if r.status_code == 200 and done and first is not None:
                    completed += 1
                    ttfts.append((first - t0) * 1000)
                else:
                    failed.append(f"HTTP {r.status_code}")

        t0 = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        if failed:
            print(f"{'failed requests':<28} {len(failed)}: {', '.join(sorted(set(failed)))}")
        return started, completed, ttfts, time.perf_counter() - t0


def priced_key(upstream: str, *, cache: bool = False) -> tuple[dict[str, str], Any, Any]:
    """In a scratch data dir: the fake upstream's model "compat/fast", priced, and a key
    under a budget, so every request reserves, records and settles. Returns the API's
    environment, the settings and the new key."""
    from lib import api
    from lib.core import load_settings
    from lib.llm import ModelInfo, save_user_catalog

    env = {"PROMPTLAB_OPENAI_BASE_URL": upstream, "PROMPTLAB_OPENAI_MODELS": "fast"}
    os.environ.update(env)
    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    save_user_catalog(settings, [ModelInfo("fast", "compat", "Fast fake", 8192, 1024,
                                           input=1.0, output=2.0)], "2026-01-01")
    return env, settings, api.create_key(settings.db, "load", 1000.0, cache=cache)


@dataclass
class Load:
    """What a load run measured: requests/s, first-token times (ms), rows lost, all kept."""

    rps: float
    ttfts: list[float]
    lost: int
    ok: bool


def load(clients: int, seconds: float, workers: int = 0) -> Load:
    """The load part; `workers` sets PROMPTLAB_API_WORKERS (0: the API's default)."""
    from lib import api

    with fast_upstream() as upstream, scratch_data_dir():
        env, settings, key = priced_key(upstream)
        if workers:
            env["PROMPTLAB_API_WORKERS"] = str(workers)
        with api_server(env) as url:
            import openai

            openai.OpenAI(base_url=url, api_key=key.secret).models.list()  # the check
            asyncio.run(streaming_clients(url, key.secret, 5, 1))  # warm up
            with settings.db.connect() as conn:
                before = conn.execute("SELECT MAX(id) FROM calls").fetchone()[0]
            warm = api.get_key(settings.db, key.key.id).calls
            started, completed, ttfts, took = asyncio.run(
                streaming_clients(url, key.secret, clients, seconds))
        with settings.db.connect() as conn:
            rows = dict(conn.execute(
                "SELECT status, COUNT(*) FROM calls WHERE page = 'api' AND id > ? "
                "GROUP BY status", (before,)).fetchall())
            held = conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0]
        counted = api.get_key(settings.db, key.key.id)
    recorded = sum(rows.values())
    print(f"{'clients x seconds':<28} {clients} x {seconds:g} s (streaming, 16 chunks each)")
    print(f"{'requests completed':<28} {completed} of {started} started "
          f"({completed / took:.1f} req/s)")
    print(f"{'TTFT under load':<28} p50={pct(ttfts, 50):8.2f} ms  p95={pct(ttfts, 95):8.2f} ms"
          f"  max={max(ttfts):8.2f} ms")
    print(f"{'ledger rows':<28} {recorded} ({', '.join(f'{k}: {v}' for k, v in rows.items())})"
          f"; the key counted {counted.calls - warm}; {held} budget holds left")
    lost = started - recorded
    print(f"{'lost ledger rows':<28} {lost}  (goal: 0)")
    return Load(completed / took, ttfts, lost, lost == 0 and held == 0
                and rows.get("ok", 0) == completed == counted.calls - warm)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--skip-ttft", action="store_true")
    parser.add_argument("--skip-load", action="store_true")
    args = parser.parse_args()
    ok = True
    if not args.skip_ttft:
        ok &= added_ttft(args.requests) <= 2.0
    if not args.skip_load:
        ok &= load(args.clients, args.seconds).ok
    sys.exit(0 if ok else 1)
