"""Prometheus /metrics on the served API, scraped over HTTP and read with prometheus_client's
own parser: off by default, behind its token when one is set, every counter and histogram
equal to the ledger (the API's calls and the app's), labels bounded whatever the traffic,
and this process's breakers and rate-limit waits."""

from __future__ import annotations

from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from fake_openai import MODEL, Reply, http_error, reply
from prometheus_client.parser import text_string_to_metric_families

from lib import spend
from lib.core import MICRO, now_iso
from lib.spend import LATENCY_BUCKETS_S, CallRecord

pytest_plugins = ["api_served"]     # the `served` fixture

PRICED = f"compat/{MODEL}"          # $1 / $2 per million tokens
PROVIDERS_OF_THE_CATALOG = {"anthropic", "openai", "compat", "local"}


@pytest.fixture
def metered(request, monkeypatch):
    """The served API with /metrics on (the setting is read when the server is built)."""
    monkeypatch.setenv("PROMPTLAB_METRICS", "1")
    return request.getfixturevalue("served")


def scrape(served, token: str | None = None) -> dict[str, list]:
    """The samples of each family by name (a counter's name without its _total)."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    got = httpx.get(served.url.removesuffix("/v1") + "/metrics", headers=headers, timeout=60)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/plain")
    return {f.name: f.samples for f in text_string_to_metric_families(got.text)}


def values(samples: list, name: str, *labels: str) -> dict[tuple, float]:
    """Sample `name`'s values summed by the given labels' values (PromQL's `sum by`)."""
    out: dict[tuple, float] = defaultdict(float)
    for s in samples:
        if s.name == name:
            out[tuple(s.labels[k] for k in labels)] += s.value
    return dict(out)


def ask(served, secret: str | openai.OpenAI, text: str, *, stream: bool = False) -> None:
    client = served.client(secret) if isinstance(secret, str) else secret
    if stream:
        list(client.chat.completions.create(model=PRICED, stream=True,
                                            messages=[{"role": "user", "content": text}]))
    else:
        client.chat.completions.create(model=PRICED,
                                       messages=[{"role": "user", "content": text}])


def app_rows() -> list[CallRecord]:
    """Calls as the app makes them (no key): a chat's, an unknown model's, a failed one, and
    one answered from the response cache ($0, with what it saved)."""
    def row(**kw) -> CallRecord:
        return CallRecord(**{"ts": now_iso(), "page": "chat", "provider": "compat",
                             "model": MODEL, "attempts": 1, "status": "ok",
                             "total_ms": 1200.0, "ttft_ms": 300.0, "input_tokens": 40,
                             "output_tokens": 30, "reasoning_tokens": 10,
                             "cache_read_tokens": 20, "cost_micro": 123, **kw})
    return [row(), row(total_ms=4.0, ttft_ms=2.0),
            row(model="made-up-model", total_ms=70_000.0, ttft_ms=None),
            row(status="error", error_kind="server", ttft_ms=None, output_tokens=0,
                reasoning_tokens=0, cost_micro=0, total_ms=15.0),
            row(cost_micro=0, response_cache="hit", saved_micro=456, total_ms=1.0, ttft_ms=0.5)]


def labels_of(row: dict) -> tuple:
    model = row["model"] if row["model"] == MODEL else "other"
    key = "none" if row["api_key_id"] is None else str(row["api_key_id"])
    return row["provider"], model, row["page"], key


def test_metrics_are_off_by_default(served):
    got = httpx.get(served.url.removesuffix("/v1") + "/metrics", timeout=60)
    assert got.status_code == 404
    assert got.json()["error"]["code"] == "unknown_url"


def test_a_metrics_key_is_asked_for_as_a_bearer_token(monkeypatch, request):
    monkeypatch.setenv("PROMPTLAB_METRICS_KEY", "scrape-me-please")
    served = request.getfixturevalue("metered")
    url = served.url.removesuffix("/v1") + "/metrics"
    for headers in ({}, {"authorization": "Bearer wrong-token-here"},
                    {"authorization": "scrape-me-please"},
                    {"authorization": f"Bearer {served.key()}"}):  # an API key is not it
        got = httpx.get(url, headers=headers, timeout=60)
        assert got.status_code == 401 and got.headers["www-authenticate"] == "Bearer"
        assert "promptlab" not in got.text
    assert "promptlab_requests" in scrape(served, "scrape-me-please")


def test_every_counter_and_histogram_equals_the_ledger(metered):
    served = metered
    served.fake.script = [Reply(["Hello", " there."], usage=lambda body: (11, 7))]
    first, second = served.key("first"), served.key("second")
    ask(served, first, "one")
    before = scrape(served)
    ask(served, first, "two")
    ask(served, first, "three", stream=True)
    ask(served, second, "four")
    spend.record_many(served.settings.db, app_rows())
    after = scrape(served)
    rows = served.rows()
    assert len(rows) == 9   # four over the API, five as the app writes them

    # The counters move by exactly the calls made: three over the API since the first scrape.
    api_calls = values(after["promptlab_requests"], "promptlab_requests_total", "page")
    was = values(before["promptlab_requests"], "promptlab_requests_total", "page")
    assert api_calls[("api",)] - was[("api",)] == 3 and was[("api",)] == 1

    expected: Counter[tuple] = Counter()
    for r in rows:
        expected[(*labels_of(r), r["status"])] += 1
    assert values(after["promptlab_requests"], "promptlab_requests_total",
                  "provider", "model", "page", "api_key_id", "status") == expected
    assert values(after["promptlab_failures"], "promptlab_failures_total", "provider",
                  "model", "page", "api_key_id", "error_kind") == {
        ("compat", MODEL, "chat", "none", "server"): 1}

    for family, column in (("input_tokens", "input_tokens"),
                           ("output_tokens", "output_tokens"),
                           ("cached_tokens", "cache_read_tokens"),
                           ("reasoning_tokens", "reasoning_tokens")):
        sums: Counter[tuple] = Counter()
        for r in rows:
            sums[labels_of(r)] += r[column]
        assert values(after[f"promptlab_{family}"], f"promptlab_{family}_total",
                      "provider", "model", "page", "api_key_id") == sums, family
    cost: Counter[tuple] = Counter()
    hits: Counter[tuple] = Counter()
    saved: Counter[tuple] = Counter()
    for r in rows:
        cost[labels_of(r)] += r["cost_micro"]
        hits[labels_of(r)] += r["response_cache"] == "hit"
        saved[labels_of(r)] += r["saved_micro"]
    assert values(after["promptlab_spend_usd"], "promptlab_spend_usd_total", "provider",
                  "model", "page", "api_key_id") == pytest.approx(
        {k: v / MICRO for k, v in cost.items()})
    assert sum(cost.values()) > 0  # the API's calls were priced
    # A group without hits reads 0 (not missing), so a hit rate can be taken from the start.
    assert values(after["promptlab_cache_hits"], "promptlab_cache_hits_total", "provider",
                  "model", "page", "api_key_id") == {k: hits[k] for k in cost}
    assert sum(hits.values()) == 1  # the app's cached row (see app_rows)
    assert values(after["promptlab_cache_saved_usd"], "promptlab_cache_saved_usd_total",
                  "provider", "model", "page", "api_key_id") == pytest.approx(
        {k: saved[k] / MICRO for k in cost})

    for family, column in (("time_to_first_token_seconds", "ttft_ms"),
                           ("request_duration_seconds", "total_ms")):
        timed: dict[tuple, list] = {}  # a group whose calls never had a first token reads 0
        for r in rows:
            seconds = timed.setdefault(labels_of(r)[:3], [])
            if r[column] is not None:
                seconds.append(r[column] / 1000)
        samples = after[f"promptlab_{family}"]
        assert values(samples, f"promptlab_{family}_count", "provider", "model", "page") == {
            k: len(v) for k, v in timed.items()}
        assert values(samples, f"promptlab_{family}_sum", "provider", "model", "page") == \
            pytest.approx({k: sum(v) for k, v in timed.items()})
        for key, seconds in timed.items():
            buckets = {s.labels["le"]: s.value for s in samples if s.name.endswith("_bucket")
                       and (s.labels["provider"], s.labels["model"], s.labels["page"]) == key}
            assert buckets == {**{f"{b:g}": sum(v <= b for v in seconds)
                                  for b in LATENCY_BUCKETS_S}, "+Inf": len(seconds)}


def test_a_histograms_buckets_are_cumulative_and_its_count_is_its_last(metered):
    served = metered
    spend.record_many(served.settings.db, [
        CallRecord(now_iso(), "compare", "compat", MODEL, 1, "ok", total_ms=ms, ttft_ms=ms / 4)
        for ms in (3, 40, 40, 900, 2_000, 45_000, 400_000)])
    samples = scrape(served)["promptlab_request_duration_seconds"]
    series = [s for s in samples if s.name.endswith("_bucket")
              and s.labels["page"] == "compare"]
    counts = [s.value for s in sorted(series, key=lambda s: float(s.labels["le"]))]
    assert len(counts) == len(LATENCY_BUCKETS_S) + 1
    assert counts == sorted(counts) and counts[0] == 1 and counts[-2] == 6
    assert values(samples, "promptlab_request_duration_seconds_count", "page") == {
        ("compare",): counts[-1]} and counts[-1] == 7


def test_distinct_prompts_and_users_add_no_label_values(metered):
    served = metered
    secret = served.key()
    ask(served, secret, "warm up")
    spend.record_many(served.settings.db, app_rows())
    labels_before = label_values(scrape(served))
    client = served.client(secret)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: ask(served, client, f"question number {i}: {i * 7919}"),
                      range(1_000)))
    # The app's calls with their own prompts, users, conversations, errors and unknown models.
    spend.record_many(served.settings.db, [
        CallRecord(now_iso(), "chat", "compat", f"someones-model-{i}", 1, "error",
                   total_ms=5.0, prompt_name=f"prompt {i}", user_id=f"user-{i}",
                   conversation_id=i, error_kind="server", error_message=f"said {i}")
        for i in range(1_000)])
    after = scrape(served)
    assert label_values(after) == labels_before
    assert values(after["promptlab_requests"], "promptlab_requests_total", "page",
                  "api_key_id", "status")[("api", "1", "ok")] == 1_001
    assert len(served.rows()) == 1_001 + len(app_rows()) + 1_000


def label_values(families: dict[str, list]) -> dict[str, set[str]]:
    """Every label's values across every family (the le of histograms aside)."""
    out: dict[str, set[str]] = defaultdict(set)
    for samples in families.values():
        for s in samples:
            for k, v in s.labels.items():
                if k != "le":
                    out[k].add(v)
    return dict(out)


def test_an_open_breaker_reads_2_and_the_others_closed(metered):
    served = metered
    served.fake.script = [http_error(500, "down")]
    secret = served.key()
    for _ in range(2):  # three attempts each: past the breaker's five failures in a row
        with pytest.raises(openai.APIStatusError):
            ask(served, secret, "hello")
    families = scrape(served)
    states = values(families["promptlab_breaker_state"], "promptlab_breaker_state",
                    "provider")
    assert states[("compat",)] == 2
    assert set(states) == {(p,) for p in PROVIDERS_OF_THE_CATALOG}
    assert {v for k, v in states.items() if k != ("compat",)} == {0}


def test_a_rate_limit_wait_reads_in_seconds(monkeypatch, request):
    monkeypatch.setenv("PROMPTLAB_RATE_LIMITS", "compat=1")
    served = request.getfixturevalue("metered")
    served.fake.script = [reply("Hi.")]
    assert values(scrape(served)["promptlab_rate_limit_wait_seconds"],
                  "promptlab_rate_limit_wait_seconds", "provider")[("compat",)] == 0
    ask(served, served.key(), "hello")  # the minute's one call
    waits = values(scrape(served)["promptlab_rate_limit_wait_seconds"],
                   "promptlab_rate_limit_wait_seconds", "provider")
    assert 50 < waits[("compat",)] <= 60
    assert waits[("local",)] == 0
