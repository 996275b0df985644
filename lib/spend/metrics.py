"""The ledger's totals for a metrics scrape (lib.api's /metrics): calls, tokens, spend and
latency histograms by provider, model, page, API key and status, in one aggregate query.

Read from the ledger, not counted in memory, so every process that makes calls (the app, each
API worker) is in them, and a restart loses nothing. The ledger only grows, so each total only
grows: a Prometheus counter.
"""

from __future__ import annotations

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
    ttft: Latencies            # calls that had a first token
    total: Latencies


_DIMS = "provider, model, page, api_key_id, status, error_kind"
_SUMS = ("input_tokens", "output_tokens", "cache_read_tokens", "reasoning_tokens", "cost_micro")


def _histogram(column: str) -> str:
    """Count, sum and cumulative bucket counts of `column` (ms); NULLs are in none of them."""
    under = ", ".join(f"SUM(CASE WHEN {column} <= {b * 1000:g} THEN 1 ELSE 0 END)"
                      for b in LATENCY_BUCKETS_S)
    return f"COUNT({column}), COALESCE(SUM({column}), 0), {under}"


_QUERY = (f"SELECT {_DIMS}, COUNT(*), "
          + ", ".join(f"COALESCE(SUM({c}), 0)" for c in _SUMS)
          + f", {_histogram('ttft_ms')}, {_histogram('total_ms')} "
          f"FROM calls GROUP BY {_DIMS}")


def _latencies(values: tuple) -> Latencies:
    return Latencies(tuple(int(v or 0) for v in values[2:]), int(values[0]),
                     float(values[1]) / 1000)


def ledger_groups(db: Database) -> list[LedgerGroup]:
    """Every group's totals, in one pass over the ledger."""
    with db.connect() as conn:
        rows = [tuple(r) for r in conn.execute(_QUERY).fetchall()]
    n, k = 2 + len(LATENCY_BUCKETS_S), len(_SUMS)
    out = []
    for r in rows:
        provider, model, page, key_id, status, kind, calls, *rest = r
        tokens_in, tokens_out, cache_read, reasoning, cost = (int(v) for v in rest[:k])
        out.append(LedgerGroup(provider, model, page, key_id, status, kind, int(calls),
                               tokens_in, tokens_out, cache_read, reasoning, cost,
                               _latencies(tuple(rest[k:k + n])),
                               _latencies(tuple(rest[k + n:]))))
    return out
