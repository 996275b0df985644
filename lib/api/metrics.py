"""Prometheus `/metrics` on the API server (PROMPTLAB_METRICS; a bearer token when
PROMPTLAB_METRICS_KEY is set): the ledger's calls, tokens, spend, cache hits and latency
histograms, read at scrape time (so the app's calls and every API worker's are in them),
and this process's circuit breakers and rate-limit waits.

Labels stay few whatever the traffic: API keys by id, a model by its catalog id or "other",
pages, statuses and error kinds from the code's own words; never a prompt, a name or a user.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

# Loaded with lib.api.app only, as FastAPI is.
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from lib.api.failures import answer
from lib.api.openai_format import error_body
from lib.core import MICRO, PromptLabError, Settings
from lib.llm import GUARDS, current_catalog
from lib.spend import LATENCY_BUCKETS_S, Latencies, LedgerTotals

LABELS = ["provider", "model", "page", "api_key_id"]
TIMED = ["provider", "model", "page"]        # the histograms' labels: a series per bucket
OTHER = "other"                              # a model not in the catalog
NO_KEY = "none"                              # a call made in the app, not over the API
BREAKER_VALUES = {"closed": 0, "half-open": 1, "open": 2}
FAILED = ("error", "incomplete")             # statuses that count as failures

Key = tuple[str, ...]


class _Sums:
    """Numbers summed per label values."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.by: dict[Key, list[float]] = {}

    def add(self, key: Key, values: tuple[float, ...]) -> None:
        into = self.by.setdefault(key, [0] * self.width)
        for i, v in enumerate(values):
            into[i] += v


class LedgerCollector(Collector):
    """Every metric, computed afresh at each scrape."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ledger = LedgerTotals(settings.db)

    def collect(self) -> Iterator[Metric]:
        try:
            catalog = current_catalog(self.settings).models
        except PromptLabError:  # a broken catalog file: every model reads "other"
            catalog = ()
        known = {m.key for m in catalog}
        calls, failures, sums = _Sums(1), _Sums(1), _Sums(7)
        ttft, total = _Sums(len(LATENCY_BUCKETS_S) + 2), _Sums(len(LATENCY_BUCKETS_S) + 2)
        for g in self.ledger.groups():
            model = g.model if f"{g.provider}/{g.model}" in known else OTHER
            key = (g.provider, model, g.page, NO_KEY if g.api_key_id is None
                   else str(g.api_key_id))
            calls.add((*key, g.status), (g.calls,))
            if g.status in FAILED:
                failures.add((*key, g.status, g.error_kind or "unknown"), (g.calls,))
            sums.add(key, (g.input_tokens, g.output_tokens, g.cache_read_tokens,
                           g.reasoning_tokens, g.cost_micro, g.cache_hits, g.saved_micro))
            ttft.add(key[:3], _flat(g.ttft))
            total.add(key[:3], _flat(g.total))

        yield _counter("requests", "Model calls, by outcome.", calls, [*LABELS, "status"])
        yield _counter("failures", "Model calls that failed, by error kind.", failures,
                       [*LABELS, "status", "error_kind"])
        for i, (name, text) in enumerate([
                ("input_tokens", "Input tokens."), ("output_tokens", "Output tokens."),
                ("cached_tokens", "Input tokens read from the provider's prompt cache."),
                ("reasoning_tokens", "Of the output tokens, those spent reasoning.")]):
            yield _counter(name, text, sums, LABELS, i)
        spend = CounterMetricFamily("promptlab_spend_usd", "Spend in US dollars (a model "
                                    "without a price adds nothing).", labels=LABELS)
        for labels, v in sorted(sums.by.items()):
            spend.add_metric(labels, v[4] / MICRO)
        yield spend
        yield _counter("cache_hits", "Calls answered from the response cache.", sums, LABELS, 5)
        saved = CounterMetricFamily("promptlab_cache_saved_usd", "What the calls answered from "
                                    "the response cache would have cost.", labels=LABELS)
        for labels, v in sorted(sums.by.items()):
            saved.add_metric(labels, v[6] / MICRO)
        yield saved
        yield _histogram("time_to_first_token_seconds", "Time to a call's first token.", ttft)
        yield _histogram("request_duration_seconds", "A call's whole time.", total)
        yield from _guards({m.provider for m in catalog})


def _flat(h: Latencies) -> tuple[float, ...]:
    return (h.count, h.sum_s, *h.buckets)


def _counter(name: str, text: str, sums: _Sums, labels: list[str], index: int = 0
             ) -> CounterMetricFamily:
    family = CounterMetricFamily(f"promptlab_{name}", text, labels=labels)
    for key, values in sorted(sums.by.items()):
        family.add_metric(key, values[index])
    return family


def _histogram(name: str, text: str, sums: _Sums) -> HistogramMetricFamily:
    family = HistogramMetricFamily(f"promptlab_{name}", text, labels=TIMED)
    for key, (count, seconds, *under) in sorted(sums.by.items()):
        buckets = [(f"{b:g}", n) for b, n in zip(LATENCY_BUCKETS_S, under, strict=True)]
        family.add_metric(key, [*buckets, ("+Inf", count)], seconds)
    return family


def _guards(providers: set[str]) -> Iterator[Metric]:
    """This process's breakers and rate limiters, per provider (the worst of a compatible
    provider's servers; the longest wait)."""
    states = GUARDS.breakers.states()
    by_provider: dict[str, list[str]] = {p: [] for p in providers}
    for key in states:
        by_provider.setdefault(key.split(" ")[0], []).append(key)
    breaker = GaugeMetricFamily("promptlab_breaker_state", "Circuit breaker: 0 closed, "
                                "1 half-open, 2 open (this process's).", labels=["provider"])
    wait = GaugeMetricFamily("promptlab_rate_limit_wait_seconds", "How long a call would wait "
                             "for the provider's rate limit now (this process's).",
                             labels=["provider"])
    for provider, keys in sorted(by_provider.items()):
        state = GUARDS.state_of(provider)
        breaker.add_metric([provider], BREAKER_VALUES[state.state] if state else 0)
        # Only limiters that exist: every key here has made a call, and so has its limiter.
        limiters = [GUARDS.limiters.get(k, provider) for k in keys]
        wait.add_metric([provider], max((lim.waiting_s() for lim in limiters
                                         if lim.limit.active), default=0.0))
    yield breaker
    yield wait


def authorized(key: str | None, authorization: str | None) -> bool:
    """No key set: anyone may scrape; else the request's bearer token must be it."""
    if not key:
        return True
    scheme, _, token = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(),
                                                              key.encode())


def metrics_route(settings: Settings, pool: ThreadPoolExecutor
                  ) -> Callable[[Request], Awaitable[Response]]:
    """The GET /metrics handler: the scrape runs in a worker (it reads the database)."""
    registry = CollectorRegistry(auto_describe=False)  # nothing is read until a scrape
    registry.register(LedgerCollector(settings))

    async def metrics(request: Request) -> Response:
        if not authorized(settings.metrics_key, request.headers.get("authorization")):
            return JSONResponse(error_body("A valid metrics token is needed.",
                                           "invalid_request_error", "invalid_api_key"),
                                status_code=401, headers={"www-authenticate": "Bearer"})
        try:
            body = await asyncio.get_running_loop().run_in_executor(
                pool, generate_latest, registry)
        except Exception as exc:  # logged with a reference, answered as any other failure
            status, error, headers = answer(exc)
            return JSONResponse(error, status_code=status, headers=headers)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
    return metrics
