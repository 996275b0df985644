"""The ledger: one row per model call, in the shared SQLite database."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

from lib.core import latency_bucket
from lib.storage import connect


@dataclass
class CallRecord:
    ts: str
    page: str
    provider: str
    model: str
    attempts: int
    status: str                          # ok | error | incomplete | cancelled
    total_ms: float
    ttft_ms: float | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None
    conversation_id: int | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    usage_estimated: bool = False
    cost_micro: int = 0
    error_kind: str | None = None
    error_message: str | None = None
    cache_savings_micro: int = 0          # what the cache reads saved against full price
    run_id: str | None = None             # an agent run's steps share one
    step: int | None = None
    structured: str | None = None         # valid | repaired | invalid, for schema'd replies
    repair_of: int | None = None          # a repair attempt: the row whose reply failed
    fallback_of: int | None = None        # a fallback: the row whose model failed before it
    route: str | None = None              # why this model: a router rule or a fallback reason
    baseline_micro: int | None = None     # routed: the same tokens on the top model
    api_key_id: int | None = None         # made over the HTTP API with this key (lib.api)
    user_id: str | None = None            # who made it, when sign-in is on (lib/ui/identity)
    id: int | None = None


# Latency buckets are derived on insert (for the rollups), not carried on the record.
_COLUMNS = [f.name for f in fields(CallRecord) if f.name != "id"]
_INSERT = (f"INSERT INTO calls ({', '.join(_COLUMNS)}, ttft_bucket, total_bucket) "
           f"VALUES ({', '.join('?' * (len(_COLUMNS) + 2))})")


def _row(call: CallRecord) -> list:
    values = asdict(call)
    return ([int(values[c]) if isinstance(values[c], bool) else values[c] for c in _COLUMNS]
            + [latency_bucket(call.ttft_ms), latency_bucket(call.total_ms)])


def _upsert(table: str, key: tuple[str, ...], sums: tuple[str, ...]) -> str:
    return (f"INSERT INTO {table} ({', '.join(key + sums)}) "
            f"VALUES ({', '.join('?' * (len(key) + len(sums)))}) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
            + ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in sums))


# The per-user rollups (migration 0016), kept here in the insert's own transaction (portable
# SQL: no trigger): calls_daily's dimensions plus the user, and each user's day in one row.
_SPLIT = _upsert("calls_daily_users", ("user_id", "day", "provider", "model", "page",
                                       "prompt_name", "prompt_version", "status"),
                 ("calls", "cost_micro", "input_tokens", "output_tokens", "cache_read_tokens",
                  "cache_write_tokens", "cache_savings_micro"))
_DAYS = _upsert("user_days", ("user_id", "day"),
                ("calls", "cost_micro", "input_tokens", "output_tokens", "errors"))


def _by_user(db, calls: list[CallRecord]) -> None:
    """Add `calls` to the per-user rollups, summed by key first (no user: nothing to add)."""
    split: dict[tuple, list[int]] = {}
    days: dict[tuple, list[int]] = {}
    for c in calls:
        if c.user_id is None:
            continue
        day = c.ts[:10]
        key = (c.user_id, day, c.provider, c.model, c.page, c.prompt_name or "",
               c.prompt_version or 0, c.status)
        for i, v in enumerate((1, c.cost_micro, c.input_tokens, c.output_tokens,
                               c.cache_read_tokens, c.cache_write_tokens,
                               c.cache_savings_micro)):
            split.setdefault(key, [0] * 7)[i] += v
        for i, v in enumerate((1, c.cost_micro, c.input_tokens, c.output_tokens,
                               int(c.status == "error"))):
            days.setdefault((c.user_id, day), [0] * 5)[i] += v
    if split:
        db.executemany(_SPLIT, [[*k, *v] for k, v in split.items()])
        db.executemany(_DAYS, [[*k, *v] for k, v in days.items()])


def record(db_path: Path, call: CallRecord, *, settles: int | None = None) -> int:
    """Insert one call; returns its id and sets `call.id`.

    `settles` names the budget reservation this call held: it is released in the same
    transaction, so spend is never counted twice nor missed.
    """
    with connect(db_path, write=True) as conn:
        cur = conn.execute(_INSERT, _row(call))
        _by_user(conn, [call])
        if settles is not None:
            conn.execute("DELETE FROM reservations WHERE id = ?", (settles,))
    call.id = cur.lastrowid
    return call.id


def record_many(db_path: Path, calls: list[CallRecord]) -> None:
    """Insert many calls in one transaction (imports, batch results, benchmarks)."""
    with connect(db_path, write=True) as conn:
        conn.executemany(_INSERT, [_row(call) for call in calls])
        _by_user(conn, calls)


def _record(row) -> CallRecord:
    data = {k: v for k, v in dict(row).items() if k not in ("ttft_bucket", "total_bucket")}
    data["usage_estimated"] = bool(data["usage_estimated"])
    return CallRecord(**data)


def get_call(db_path: Path, call_id: int) -> CallRecord | None:
    with connect(db_path) as conn:
        row = conn.execute("SELECT * FROM calls WHERE id = ?", (call_id,)).fetchone()
    return None if row is None else _record(row)


def run_calls(db_path: Path, run_id: str) -> list[CallRecord]:
    """An agent run's steps, in order."""
    with connect(db_path) as conn:
        rows = conn.execute("SELECT * FROM calls WHERE run_id = ? ORDER BY step, id",
                            (run_id,)).fetchall()
    return [_record(r) for r in rows]


def recent_runs(db_path: Path, limit: int = 50, *, user: str | None = None) -> list[dict]:
    """The latest agent runs (`user`'s only, when given): id, start, steps, cost, time, and
    how many steps failed."""
    mine, args = ("", []) if user is None else (" AND user_id = ?", [user])
    with connect(db_path) as conn:
        rows = conn.execute(
            "SELECT run_id, MIN(ts) AS started, COUNT(*) AS steps, SUM(cost_micro) AS "
            "cost_micro, SUM(total_ms) AS total_ms, "
            "SUM(CASE WHEN status != 'ok' THEN 1 ELSE 0 END) AS failed, "
            f"MIN(model) AS model FROM calls WHERE run_id IS NOT NULL{mine} GROUP BY run_id "
            "ORDER BY started DESC LIMIT ?", (*args, limit)).fetchall()
    return [dict(r) for r in rows]


def count_calls(db_path: Path) -> int:
    with connect(db_path) as conn:
        return conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]


def spend_since_micro(db_path: Path, since_day: str, provider: str | None = None) -> int:
    """Settled spend from a UTC day (YYYY-MM-DD) on, from the daily rollup."""
    sql = "SELECT COALESCE(SUM(cost_micro), 0) FROM calls_daily WHERE day >= ?"
    args: list[str] = [since_day]
    if provider:
        sql += " AND provider = ?"
        args.append(provider)
    with connect(db_path) as conn:
        return conn.execute(sql, args).fetchone()[0]


def spend_today_micro(db_path: Path) -> int:
    from lib.core import today

    return spend_since_micro(db_path, today())
