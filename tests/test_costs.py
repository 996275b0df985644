"""The Costs dashboard's aggregates against direct computations over a generated ledger, on
both databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import math
import random

import numpy as np
import pandas as pd
import pytest

from lib import spend, storage
from lib.spend import Filters
from lib.storage import Database

MODELS = {"local": ["smollm2"], "anthropic": ["claude-haiku-4-5", "claude-sonnet-4-5"],
          "openai": ["gpt-4.1", "gpt-5-mini"]}


def generate(db: Database, n: int, seed: int = 3) -> pd.DataFrame:
    rng = random.Random(seed)
    start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    rows = []
    for _ in range(n):
        provider = rng.choice(list(MODELS))
        when = start + dt.timedelta(seconds=rng.randrange(0, 40 * 86400))
        prompt = rng.choice([None, "classifier", "summarizer"])
        rec = spend.CallRecord(
            ts=when.isoformat(timespec="milliseconds"), page=rng.choice(["chat", "compare"]),
            provider=provider, model=rng.choice(MODELS[provider]), attempts=1,
            status=rng.choices(["ok", "error", "incomplete", "cancelled"], [80, 8, 7, 5])[0],
            total_ms=rng.lognormvariate(7, 0.6),
            ttft_ms=rng.choice([None, rng.lognormvariate(5.5, 0.5)]),
            prompt_name=prompt, prompt_version=rng.randint(1, 3) if prompt else None,
            input_tokens=rng.randint(0, 5000), output_tokens=rng.randint(0, 800),
            cache_read_tokens=rng.choice([0, 0, rng.randint(0, 4000)]),
            cache_write_tokens=rng.choice([0, rng.randint(0, 2000)]),
            cost_micro=0 if provider == "local" else rng.randint(0, 90_000),
            cache_savings_micro=rng.randint(0, 5000))
        spend.record(db, rec)
        rows.append({**rec.__dict__, "day": rec.ts[:10],
                     "prompt_name": prompt or "", "prompt_version": rec.prompt_version or 0})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def ledger_db(request, tmp_path_factory):
    """One generated ledger per database for the module: a SQLite file, or a fresh PostgreSQL
    database."""
    if request.param == "sqlite":
        db = Database.sqlite(tmp_path_factory.mktemp("costs") / "ledger.sqlite3")
        yield db, generate(db, 3000)
        return
    server = request.getfixturevalue("postgres_server")
    url = server.fresh_database()
    db = Database.postgresql(url)
    yield db, generate(db, 3000)
    server.drop(url)


FILTERS = [
    Filters("2026-10-01", "2026-11-30"),
    Filters("2026-10-05", "2026-10-20", provider=("anthropic", "openai")),
    Filters("2026-10-01", "2026-11-30", model=("gpt-4.1",), status=("ok",)),
    Filters("2026-10-10", "2026-10-10", page=("compare",)),
    Filters("2026-10-01", "2026-11-30", prompt_name=("classifier",)),
]


def select(df: pd.DataFrame, f: Filters) -> pd.DataFrame:
    m = (df["day"] >= f.start) & (df["day"] <= f.end)
    for dim in spend.DIMENSIONS:
        if getattr(f, dim):
            m &= df[dim].isin(getattr(f, dim))
    return df[m]


@pytest.mark.parametrize("f", FILTERS)
def test_sums_match_a_direct_computation(ledger_db, f):
    db, df = ledger_db
    raw = select(df, f)
    data = spend.dashboard(db, f)
    t = data["totals"]
    assert t["calls"] == len(raw)
    assert t["cost_micro"] == raw["cost_micro"].sum()
    assert t["input_tokens"] == raw["input_tokens"].sum()
    assert t["cache_savings_micro"] == raw["cache_savings_micro"].sum()
    assert t["errors"] == (raw["status"] == "error").sum()

    by_day = data["spend"]
    expected = raw.groupby(["day", "model"])["cost_micro"].sum()
    assert dict(zip(zip(by_day["day"], by_day["model"], strict=True), by_day["cost_micro"],
                    strict=True)) == expected.to_dict()

    tokens = data["tokens"].set_index("day")
    for col in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
        assert tokens[col].to_dict() == raw.groupby("day")[col].sum().to_dict()

    errs = data["errors"].set_index("provider")
    for provider, group in raw.groupby("provider"):
        assert errs.loc[provider, "calls"] == len(group)
        assert errs.loc[provider, "error_rate"] == pytest.approx(
            (group["status"] == "error").mean())

    cache = data["cache"].set_index("model")
    for model, group in raw.groupby("model"):
        seen = group[["input_tokens", "cache_read_tokens", "cache_write_tokens"]].sum().sum()
        assert cache.loc[model, "hit_rate"] == pytest.approx(
            group["cache_read_tokens"].sum() / seen if seen else 0.0)
        assert cache.loc[model, "savings_micro"] == group["cache_savings_micro"].sum()

    top = data["top"]
    assert list(top["cost_micro"]) == sorted(raw["cost_micro"], reverse=True)[:20]

    prompts = data["prompts"]
    expected = raw[raw["prompt_name"] != ""].groupby(["prompt_name", "prompt_version"])[
        "cost_micro"].sum()
    assert {(r.prompt_name, r.prompt_version): r.cost_micro for r in prompts.itertuples()} == \
        expected.to_dict()


def nearest_rank(values: np.ndarray, q: float) -> float:
    ordered = np.sort(values)
    return float(ordered[max(0, math.ceil(q * len(ordered)) - 1)])


LATENCY_FILTERS = [*FILTERS[:2], Filters("2026-10-01", "2026-11-30", model=("gpt-4.1",))]


@pytest.mark.parametrize("f", LATENCY_FILTERS)
def test_latency_percentiles_are_within_one_percent(ledger_db, f):
    db, df = ledger_db
    raw = select(df, f)  # date, provider and model filters: what latency honours
    lat = spend.dashboard(db, f)["latency"].set_index("model")
    for model, group in raw.groupby("model"):
        for metric, column in (("ttft", "ttft_ms"), ("total", "total_ms")):
            values = group[column].dropna().to_numpy()
            for q, name in ((0.5, "p50"), (0.95, "p95")):
                exact = nearest_rank(values, q)
                got = lat.loc[model, f"{metric}_{name}_ms"]
                assert abs(got - exact) / exact <= 0.0101, (model, metric, name, got, exact)


def test_options_list_what_is_in_the_ledger(ledger_db):
    db, df = ledger_db
    opts = spend.options(db)
    assert opts["model"] == sorted(df["model"].unique())
    assert opts["days"] == [df["day"].min(), df["day"].max()]


@pytest.mark.parametrize("backend_", ["sqlite", "postgres"])
def test_rollups_are_backfilled_for_calls_recorded_before_them(tmp_path, backend_, request):
    import sqlite3

    import psycopg

    path = tmp_path / "old.sqlite3"
    db = Database.sqlite(path)
    if backend_ == "postgres":
        server = request.getfixturevalue("postgres_server")
        url = server.fresh_database(migrated=False)
        db = Database.postgresql(url)
        request.addfinalizer(lambda: server.drop(url))
    db.migrate(until="0004_knowledge")
    # A call recorded by a version before the rollups (a raw client: connect would migrate).
    with sqlite3.connect(path) if backend_ == "sqlite" else psycopg.connect(url) as conn:
        conn.execute("INSERT INTO calls (ts, page, provider, model, input_tokens, cost_micro, "
                     "ttft_ms, total_ms, attempts, status) VALUES ('2026-09-01T10:00:00', "
                     "'chat', 'openai', 'gpt-4.1', 100, 250, 300.0, 900.0, 1, 'ok')")
    applied = db.migrate()
    assert applied[:2] == ["0005_rollups_and_budgets", "0006_backfill_rollups"]
    assert applied == [name for name, _ in storage.MIGRATIONS if name > "0004_knowledge"]
    data = spend.dashboard(db, Filters("2026-09-01", "2026-09-01"))
    assert data["totals"]["cost_micro"] == 250
    lat = data["latency"].iloc[0]
    assert abs(lat["ttft_p50_ms"] - 300) / 300 <= 0.01
