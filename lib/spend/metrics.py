"""The ledger's totals for a metrics scrape (lib.api's /metrics): calls, tokens, spend and
latency histograms by provider, model, page, API key and status, by one aggregate query.

Read from the ledger, not counted in memory, so every process that makes calls (the app, each
API worker) is in them, and a restart loses nothing. The ledger only grows, so each total only
grows: a Prometheus counter.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from lib.storage import Database

# Upper bounds (seconds) of the latency histograms' buckets: from a cached reply's few
# milliseconds to a long reasoning call's minutes.
LATENCY_BUCKETS_S = (0.005, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                     120.0, 300.0)


@dataclass(frozen=True)
class Latencies:
    """A histogram of one latency over a group's calls that have it."""

    buckets: tuple[int, ...]   # cumulative: calls at or under each of LATENCY_BUCKETS_S
    count: int
    sum_s: float


@dataclass(frozen=True)
class LedgerGroup:
    """The ledger's rows of one provider, model, page, API key, status and error kind."""

    provider: str
    model: str                 # the model's id, as the ledger has it
    page: str
    api_key_id: int | None
    status: str
    error_kind: str | None
    calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    reasoning_tokens: int
    cost_micro: int
    cache_hits: int            # calls answered from the response cache (lib.llm.cache)
    saved_micro: int           # what those would have cost
    ttft: Latencies            # calls that had a first token
    total: Latencies


_DIMS = "provider, model, page, api_key_id, status, error_kind"
_SUMS = ("input_tokens", "output_tokens", "cache_read_tokens", "reasoning_tokens", "cost_micro",
         "CASE WHEN response_cache = 'hit' THEN 1 ELSE 0 END", "saved_micro")
_WIDTH = 1 + len(_SUMS) + 2 * (2 + len(LATENCY_BUCKETS_S))  # the numbers after the dims


def _histogram(column: str) -> str:
    """Count, sum and cumulative bucket counts of `column` (ms); NULLs are in none of them."""
    under = ", ".join(f"SUM(CASE WHEN {column} <= {b * 1000:g} THEN 1 ELSE 0 END)"
                      for b in LATENCY_BUCKETS_S)
    return f"COUNT({column}), COALESCE(SUM({column}), 0), {under}"


_QUERY = (f"SELECT {_DIMS}, COUNT(*), "
          + ", ".join(f"COALESCE(SUM({c}), 0)" for c in _SUMS)
          + f", {_histogram('ttft_ms')}, {_histogram('total_ms')} "
          f"FROM calls WHERE id > ? AND id <= ? GROUP BY {_DIMS}")


def _latencies(values: list[float]) -> Latencies:
    return Latencies(tuple(int(v) for v in values[2:]), int(values[0]), values[1] / 1000)


class LedgerTotals:
    """The ledger's groups, for one process's scrapes.

    On SQLite only the rows added since the last read are aggregated (the first read takes
    them all): a ledger row is never changed or deleted, and one writer at a time means every
    id under the newest visible one is visible too. On PostgreSQL an id can commit after a
    higher one, so each read aggregates the whole ledger.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._sums: dict[tuple, list[float]] = {}
        self._seen = 0  # the newest id in _sums

    def groups(self) -> list[LedgerGroup]:
        """Every group's totals, as of now."""
        with self._lock:
            with self.db.connect() as conn:
                top = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM calls").fetchone()[0])
                if self.db.kind != "sqlite" or top < self._seen:  # (fewer: another ledger)
                    self._sums, self._seen = {}, 0
                rows = conn.execute(_QUERY, (self._seen, top)).fetchall() \
                    if top > self._seen else []
            for r in rows:
                into = self._sums.setdefault(tuple(r[:6]), [0] * _WIDTH)
                for i, v in enumerate(r[6:]):
                    into[i] += v or 0
            self._seen = top
            return [_group(dims, values) for dims, values in self._sums.items()]


def _group(dims: tuple, values: list[float]) -> LedgerGroup:
    n, k = 2 + len(LATENCY_BUCKETS_S), len(_SUMS)
    provider, model, page, key_id, status, kind = dims
    calls, *rest = values
    tokens_in, tokens_out, cache_read, reasoning, cost, hits, saved = (int(v) for v in rest[:k])
    return LedgerGroup(provider, model, page, key_id, status, kind, int(calls), tokens_in,
                       tokens_out, cache_read, reasoning, cost, hits, saved,
                       _latencies(rest[k:k + n]),
                       _latencies(rest[k + n:]))
