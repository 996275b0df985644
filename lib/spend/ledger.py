"""The ledger: one row per model call, in the shared SQLite database, and beside each row
what the call sent and got back (its payload, bounded in size) for the call's detail page."""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from lib.core import latency_bucket
from lib.spend.budgets import settle
from lib.storage import Database

log = logging.getLogger(__name__)


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
    priced: bool = True                   # False: its model's price is unknown (cost_micro 0)
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
    reasoning_tokens: int = 0             # of output_tokens, those spent thinking (in its cost)
    saved_micro: int = 0                  # a response-cache hit (cost 0): what it would have cost
    response_cache: str | None = None     # hit | miss, when the call looked the cache up
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


def _by_user(conn, calls: list[CallRecord]) -> None:
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
        conn.executemany(_SPLIT, [[*k, *v] for k, v in split.items()])
        conn.executemany(_DAYS, [[*k, *v] for k, v in days.items()])


def record(db: Database, call: CallRecord, *, settles: int | None = None,
           payload: Payload | None = None) -> int:
    """Insert one call; returns its id and sets `call.id`.

    `settles` names the budget reservation this call held: it is released in the same
    transaction, so spend is never counted twice nor missed. `payload` (the request sent and
    the reply got, see lib/llm/payloads.py) is stored beside the row, in that transaction too.
    """
    stored = None if payload is None else bounded(payload)
    with db.connect(write=True) as conn:
        cur = conn.execute(_INSERT, _row(call))
        _by_user(conn, [call])
        if stored is not None:
            conn.execute("INSERT INTO call_payloads (call_id, request, reply, truncated) "
                         "VALUES (?, ?, ?, ?)", (cur.lastrowid, *stored))
        if settles is not None:
            settle(conn, settles)
    call.id = cur.lastrowid
    return call.id


# -- payloads --------------------------------------------------------------------------
# A payload is {"request": {...}, "reply": {...}} of plain JSON values. Stored, its two JSON
# texts together stay within PAYLOAD_CHARS: a chat resends its whole history on every turn,
# so a long conversation would otherwise store its history once per turn in full.
Payload = dict[str, Any]
PAYLOAD_CHARS = 200_000
DEEPEST = 32                  # levels of nesting kept; deeper values read as a cut mark
# How hard each try cuts: (longest string kept (None: all), most list entries or keys kept).
# Even the first keeps at most 1,000 entries a list: each try walks only what it keeps.
_CUTS = [(None, 1_000), (20_000, 1_000), (20_000, 200), (4_000, 50), (1_000, 20), (250, 8),
         (60, 4)]


@dataclass(frozen=True)
class CallDetail:
    """One call's ledger row and payload; `request` and `reply` are None when nothing was
    stored (a batch result, or a call made before payloads were kept)."""

    record: CallRecord
    request: dict[str, Any] | None
    reply: dict[str, Any] | None
    truncated: bool
    api_key_name: str | None = None


def _cut(value: Any, cap: int | None, items: int, cuts: list[int], depth: int = 0) -> Any:
    """`value` as JSON-ready values: strings over `cap` characters and lists or objects over
    `items` entries shortened (with a mark saying how much went), nesting past DEEPEST
    replaced by a mark; `cuts` counts what was cut."""
    if isinstance(value, str):
        if cap is None or len(value) <= cap:
            return value
        cuts.append(1)
        return f"{value[:cap]}… [{len(value) - cap:,} more characters cut]"
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= DEEPEST and isinstance(value, dict | list | tuple):
        cuts.append(1)
        return f"… [nested deeper than {DEEPEST} levels: cut]"
    if isinstance(value, dict):
        keys = list(value)
        kept = keys[:items]
        out = {str(k): _cut(value[k], cap, items, cuts, depth + 1) for k in kept}
        if len(kept) < len(keys):
            cuts.append(1)
            out["…"] = f"[{len(keys) - len(kept):,} more keys cut]"
        return out
    if isinstance(value, list | tuple):
        if len(value) <= items:
            return [_cut(v, cap, items, cuts, depth + 1) for v in value]
        cuts.append(1)
        head, tail = (items + 1) // 2, items // 2  # the start and the latest entries
        return [*(_cut(v, cap, items, cuts, depth + 1) for v in value[:head]),
                f"… [{len(value) - head - tail:,} entries cut]",
                *(_cut(v, cap, items, cuts, depth + 1) for v in value[len(value) - tail:])]
    return str(value)


# A surrogate code point in a str is a lone half (from a broken client or model): UTF-8
# cannot hold it, nor can a page draw it. It is stored as the replacement character.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _json(value: Any) -> str:
    return _SURROGATE.sub("\ufffd", json.dumps(value, ensure_ascii=False))


def bounded(payload: Payload, limit: int = PAYLOAD_CHARS) -> tuple[str, str, int]:
    """(request JSON, reply JSON, 1 if anything was cut else 0), together within `limit`
    characters: cut harder until they fit. Never raises: a payload that cannot be written
    is stored as a note saying so (the ledger row matters more)."""
    try:
        for cap, items in _CUTS:
            cuts: list[int] = []
            request = _json(_cut(payload.get("request"), cap, items, cuts))
            reply = _json(_cut(payload.get("reply"), cap, items, cuts))
            if len(request) + len(reply) <= limit:
                return request, reply, int(bool(cuts))
        note = f"… [over {limit:,} characters even cut short: not stored]"
    except (TypeError, ValueError, RecursionError) as exc:
        log.exception("a call's payload could not be written")
        note = f"… [could not be stored: {type(exc).__name__}]"
    return _json({"note": note}), _json({"note": note}), 1


def call_detail(db: Database, call_id: int, *, user: str | None = None) -> CallDetail | None:
    """A call's row and payload; None when there is no such call or (with `user`, once
    sign-in is on) it is someone else's: the two read alike, so an id cannot be probed."""
    with db.connect() as conn:
        row = conn.execute("SELECT * FROM calls WHERE id = ?", (call_id,)).fetchone()
        if row is None or (user is not None and row["user_id"] != user):
            return None
        stored = conn.execute("SELECT request, reply, truncated FROM call_payloads "
                              "WHERE call_id = ?", (call_id,)).fetchone()
        key = None if row["api_key_id"] is None else conn.execute(
            "SELECT name FROM api_keys WHERE id = ?", (row["api_key_id"],)).fetchone()
    return CallDetail(_record(row), None if stored is None else json.loads(stored[0]),
                      None if stored is None else json.loads(stored[1]),
                      bool(stored[2]) if stored else False, key[0] if key else None)


def record_many(db: Database, calls: list[CallRecord]) -> None:
    """Insert many calls in one transaction (imports, batch results, benchmarks)."""
    with db.connect(write=True) as conn:
        conn.executemany(_INSERT, [_row(call) for call in calls])
        _by_user(conn, calls)


def _record(row) -> CallRecord:
    data = {k: v for k, v in dict(row).items() if k not in ("ttft_bucket", "total_bucket")}
    data["usage_estimated"] = bool(data["usage_estimated"])
    data["priced"] = bool(data["priced"])
    return CallRecord(**data)


def get_call(db: Database, call_id: int) -> CallRecord | None:
    with db.connect() as conn:
        row = conn.execute("SELECT * FROM calls WHERE id = ?", (call_id,)).fetchone()
    return None if row is None else _record(row)


def run_calls(db: Database, run_id: str) -> list[CallRecord]:
    """An agent run's steps, in order."""
    with db.connect() as conn:
        rows = conn.execute("SELECT * FROM calls WHERE run_id = ? ORDER BY step, id",
                            (run_id,)).fetchall()
    return [_record(r) for r in rows]


def recent_runs(db: Database, limit: int = 50, *, user: str | None = None) -> list[dict]:
    """The latest agent runs (`user`'s only, when given): id, start, steps, cost, time, and
    how many steps failed."""
    mine, args = ("", []) if user is None else (" AND user_id = ?", [user])
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT run_id, MIN(ts) AS started, COUNT(*) AS steps, SUM(cost_micro) AS "
            "cost_micro, SUM(1 - priced) AS unpriced, SUM(total_ms) AS total_ms, "
            "SUM(CASE WHEN status != 'ok' THEN 1 ELSE 0 END) AS failed, "
            f"MIN(model) AS model FROM calls WHERE run_id IS NOT NULL{mine} GROUP BY run_id "
            "ORDER BY started DESC LIMIT ?", (*args, limit)).fetchall()
    return [dict(r) for r in rows]


def latest_call_id(db: Database) -> int:
    """The newest ledger row's id (0: none yet): what a page's cached aggregates are as of."""
    with db.connect() as conn:
        return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM calls").fetchone()[0])


def count_calls(db: Database) -> int:
    with db.connect() as conn:
        return conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]


def spend_since_micro(db: Database, since_day: str, provider: str | None = None) -> int:
    """Settled spend from a UTC day (YYYY-MM-DD) on, from the daily rollup."""
    sql = "SELECT COALESCE(SUM(cost_micro), 0) FROM calls_daily WHERE day >= ?"
    args: list[str] = [since_day]
    if provider:
        sql += " AND provider = ?"
        args.append(provider)
    with db.connect() as conn:
        return conn.execute(sql, args).fetchone()[0]


def spend_today_micro(db: Database) -> int:
    from lib.core import today

    return spend_since_micro(db, today())
