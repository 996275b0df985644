"""`python -m lib.api` with PROMPTLAB_API_WORKERS=2 on one Redis: requests land on both worker
processes, and a key's budget stays exact across them (the database transaction that admits
each call is the one guard; this proves it holds between processes)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
from fake_openai import MODEL, FakeOpenAI, Reply, app_env_for, serving
from support import free_port, wait_for_http

from lib import api
from lib.core import ROOT, Settings, load_settings
from lib.llm import ModelInfo, save_user_catalog

PRICED = f"compat/{MODEL}"  # $1 / $2 per million tokens


@dataclass
class Workers:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    settings: Settings
    fake: FakeOpenAI
    gate: threading.Event  # the fake answers once it is set
    redis_url: str

    def post(self, secret: str, max_tokens: int = 100) -> httpx.Response:
        return httpx.post(f"{self.url}/v1/chat/completions", timeout=60,
                          headers={"authorization": f"Bearer {secret}"},
                          json={"model": PRICED, "max_tokens": max_tokens,
                                "messages": [{"role": "user", "content": "x"}]})

    def serving_pids(self) -> set[int]:
        """The processes holding an accepted connection on the API's port now."""
        inodes = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                f = line.split()
                if int(f[1].rsplit(":", 1)[1], 16) == self.port and f[3] == "01":  # ESTABLISHED
                    inodes.add(f[9])
        pids = set()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                stat = (proc / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) != self.proc.pid:  # not a worker
                    continue
                links = {os.readlink(fd) for fd in (proc / "fd").iterdir()}
            except OSError:  # gone meanwhile
                continue
            if any(f"socket:[{i}]" in links for i in inodes):
                pids.add(int(proc.name))
        return pids


@pytest.fixture
def workers(data_dir, prompts_dir, redis_url, monkeypatch) -> Iterator[Workers]:
    gate = threading.Event()
    gate.set()
    fake = FakeOpenAI(Reply(["Hello", " from", " the fake."], hold=gate))
    with serving(fake):
        env = {**os.environ, **app_env_for(fake), "PROMPTLAB_REDIS_URL": redis_url,
               "PROMPTLAB_RATE_LIMITS": "compat=100000", "PROMPTLAB_API_WORKERS": "2",
               "PROMPTLAB_API_PORT": str(port := free_port())}
        for name in ("PROMPTLAB_OPENAI_BASE_URL", "PROMPTLAB_OPENAI_MODELS"):
            monkeypatch.setenv(name, env[name])
        settings = load_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        save_user_catalog(settings, [ModelInfo(MODEL, "compat", "Fake (priced)", 8192, 1024,
                                               input=1.0, output=2.0)], "2026-01-01")
        proc = subprocess.Popen([sys.executable, "-m", "lib.api"], cwd=ROOT, env=env)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/health", timeout=60, proc=proc)
            yield Workers(f"http://127.0.0.1:{port}", port, proc, settings, fake, gate,
                          redis_url)
        finally:
            gate.set()
            proc.terminate()
            proc.wait(30)


def test_requests_land_on_both_workers(workers):
    """Each request is held at the fake model, its connection open, until two workers hold
    one: the kernel hands connections to whichever worker accepts first."""
    secret = api.create_key(workers.settings.db, "spread").secret
    workers.gate.clear()
    statuses: list[int] = []
    threads: list[threading.Thread] = []
    while len(workers.serving_pids()) < 2:
        assert len(threads) < 64, "every connection went to one worker"
        threads.append(threading.Thread(
            target=lambda: statuses.append(workers.post(secret).status_code)))
        threads[-1].start()
        workers.fake.wait_for_requests(len(threads))  # in flight, held at the model
    workers.gate.set()
    for t in threads:
        t.join(60)
    assert statuses == [200] * len(threads)


def test_a_key_budget_stays_exact_across_two_workers(workers):
    # Room for two worst cases at once: most of 40 concurrent requests are refused.
    key_secret = api.create_key(workers.settings.db, "tight", 0.0005).secret
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def one() -> None:
        r = workers.post(key_secret)
        with lock:
            answers.append(r)

    threads = [threading.Thread(target=one) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 40
    ok = [r for r in answers if r.status_code == 200]
    refused = [r for r in answers if r.status_code != 200]
    assert ok and refused  # the budget was reached, and some calls were answered
    assert all(r.json()["choices"][0]["message"]["content"] == "Hello from the fake."
               for r in ok)
    assert all(r.status_code == 429 and r.json()["error"]["type"] == "budget_exceeded"
               for r in refused)
    [key] = api.list_keys(workers.settings.db)
    with workers.settings.db.connect() as conn:
        rows = [dict(r) for r in conn.execute(
            "SELECT status, cost_micro FROM calls WHERE api_key_id = ?", (key.id,))]
        held = conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0]
    assert [r["status"] for r in rows] == ["ok"] * len(ok) == ["ok"] * key.calls
    assert sum(r["cost_micro"] for r in rows) == key.spent_micro <= key.budget_micro
    assert held == 0  # every hold settled or given back
    # The workers' rate limiter and breaker were the shared ones.
    shared = redis.Redis.from_url(workers.redis_url)
    assert shared.keys("promptlab:limit:*") and shared.keys("promptlab:breaker:*")


def test_workers_default_to_the_cpu_count(data_dir, monkeypatch):
    assert api.api_workers(load_settings()) == len(os.sched_getaffinity(0))
    monkeypatch.setenv("PROMPTLAB_API_WORKERS", "3")
    assert api.api_workers(load_settings()) == 3
