"""The ledger: one row per model call, in the shared SQLite database."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from lib import db


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
    id: int | None = None


_COLUMNS = [f.name for f in fields(CallRecord) if f.name != "id"]


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def record(db_path: Path, call: CallRecord) -> int:
    """Insert one call; returns its id and sets `call.id`."""
    values = asdict(call)
    with db.connect(db_path, write=True) as conn:
        cur = conn.execute(
            f"INSERT INTO calls ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
            [int(values[c]) if isinstance(values[c], bool) else values[c] for c in _COLUMNS])
    call.id = cur.lastrowid
    return call.id


def get(db_path: Path, call_id: int) -> CallRecord | None:
    with db.connect(db_path) as conn:
        row = conn.execute("SELECT * FROM calls WHERE id = ?", (call_id,)).fetchone()
    if row is None:
        return None
    data = dict(row)
    data["usage_estimated"] = bool(data["usage_estimated"])
    return CallRecord(**data)


def count(db_path: Path) -> int:
    with db.connect(db_path) as conn:
        return conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]


def spend_since_micro(db_path: Path, since_iso: str) -> int:
    with db.connect(db_path) as conn:
        return conn.execute("SELECT COALESCE(SUM(cost_micro), 0) FROM calls WHERE ts >= ?",
                            (since_iso,)).fetchone()[0]


def today_start_iso() -> str:
    """Midnight UTC today, in the same format as `ts`."""
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today.isoformat(timespec="milliseconds")


def format_usd(micro: int) -> str:
    if micro == 0:
        return "$0"
    dollars = micro / 1_000_000
    return f"${dollars:,.4f}" if dollars < 1 else f"${dollars:,.2f}"
