"""Daily and monthly budgets, overall and per provider.

Before a paid call its worst-case cost (input tokens plus maximum output) is reserved in one
IMMEDIATE transaction that also checks every budget it falls under, so concurrent calls can
never overshoot; the ledger row that records the real cost releases the reservation in the
same transaction. Calls that cost nothing (the local model) are never reserved nor blocked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from lib.core import BudgetError, BudgetExceededError, format_usd, format_usd_pair, to_micro
from lib.storage import connect

PERIODS = ("day", "month")
WARN_AT = 0.8
STALE_AFTER = dt.timedelta(hours=1)   # a reservation older than this was left by a crash


@dataclass(frozen=True)
class BudgetStatus:
    scope: str                # "all" or a provider
    period: str               # day | month
    limit_micro: int
    spent_micro: int
    reserved_micro: int

    @property
    def used(self) -> int:
        return self.spent_micro + self.reserved_micro

    @property
    def fraction(self) -> float:
        return self.used / self.limit_micro if self.limit_micro else 1.0

    @property
    def label(self) -> str:
        who = "overall" if self.scope == "all" else self.scope
        return f"{'Today' if self.period == 'day' else 'This month'}'s {who} budget"


def _period_start(period: str, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    day = now.date() if period == "day" else now.date().replace(day=1)
    return day.isoformat()


def set_budget(path: Path, scope: str, period: str, limit_usd: float | None) -> None:
    """Set a budget in dollars; None removes it."""
    if period not in PERIODS:
        raise BudgetError(f"A budget period is 'day' or 'month', not {period!r}.")
    with connect(path, write=True) as conn:
        if limit_usd is None:
            conn.execute("DELETE FROM budgets WHERE scope = ? AND period = ?", (scope, period))
            return
        if limit_usd < 0:
            raise BudgetError("A budget cannot be negative.")
        conn.execute("INSERT INTO budgets (scope, period, limit_micro) VALUES (?, ?, ?) "
                     "ON CONFLICT (scope, period) DO UPDATE SET limit_micro = "
                     "excluded.limit_micro", (scope, period, to_micro(limit_usd)))


def _stale_cutoff() -> str:
    return (dt.datetime.now(dt.UTC) - STALE_AFTER).isoformat(timespec="milliseconds")


def _status(conn, scope: str, period: str, limit_micro: int) -> BudgetStatus:
    start = _period_start(period)
    cutoff = _stale_cutoff()
    where, args = ("", []) if scope == "all" else (" AND provider = ?", [scope])
    spent = conn.execute(f"SELECT COALESCE(SUM(cost_micro), 0) FROM calls_daily WHERE day >= ?"
                         f"{where}", [start, *args]).fetchone()[0]
    reserved = conn.execute(f"SELECT COALESCE(SUM(amount_micro), 0) FROM reservations WHERE "
                            f"created_at >= ?{where}", [cutoff, *args]).fetchone()[0]
    return BudgetStatus(scope, period, limit_micro, spent, reserved)


def statuses(path: Path) -> list[BudgetStatus]:
    with connect(path) as conn:
        rows = conn.execute("SELECT scope, period, limit_micro FROM budgets "
                            "ORDER BY scope = 'all' DESC, scope, period").fetchall()
        return [_status(conn, *r) for r in rows]


def applies(path: Path, provider: str) -> bool:
    """Whether any budget covers calls to `provider` (a read: no lock is taken).

    A call with no budget over it reserves nothing, so its first token is not held up by a
    write. A budget created while such a call is in flight applies from the next call.
    """
    with connect(path) as conn:
        return conn.execute("SELECT 1 FROM budgets WHERE scope IN ('all', ?) LIMIT 1",
                            (provider,)).fetchone() is not None


def reserve(path: Path, provider: str, amount_micro: int) -> int | None:
    """Hold `amount_micro` against every budget over `provider`, or refuse the call."""
    if amount_micro <= 0:
        return None
    with connect(path, write=True) as conn:  # IMMEDIATE: one reserver at a time
        conn.execute("DELETE FROM reservations WHERE created_at < ?", (_stale_cutoff(),))
        for scope, period, limit_micro in conn.execute(
                "SELECT scope, period, limit_micro FROM budgets WHERE scope IN ('all', ?)",
                (provider,)).fetchall():
            s = _status(conn, scope, period, limit_micro)
            if s.used + amount_micro > limit_micro:
                limit, left = format_usd_pair(limit_micro, max(0, limit_micro - s.used))
                raise BudgetExceededError(
                    f"{s.label} of {limit} has {left} left; this call could cost up to "
                    f"{format_usd(amount_micro)}, so it was not sent.",
                    hint="Raise the budget on the Costs page, lower max tokens, or use the "
                         "local model, which is free.")
        cur = conn.execute("INSERT INTO reservations (provider, amount_micro, created_at) "
                           "VALUES (?, ?, ?)", (provider, amount_micro,
                                                dt.datetime.now(dt.UTC).isoformat(
                                                    timespec="milliseconds")))
        return int(cur.lastrowid)


# A long hold (a batch run: many ledger rows, up to a day) is matched on provider and amount
# too: a hold dropped as stale may have seen its id go to another call since.
_HOLD = "id = ? AND provider = ? AND amount_micro = ?"


def renew(path: Path, hold: int, provider: str, amount_micro: int) -> int:
    """Keep a long hold current (holds older than STALE_AFTER are dropped as crash
    leftovers); takes it again if it was dropped. Returns the hold's id, new or not."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    with connect(path, write=True) as conn:
        if conn.execute(f"UPDATE reservations SET created_at = ? WHERE {_HOLD}",
                        (now, hold, provider, amount_micro)).rowcount:
            return hold
        return int(conn.execute("INSERT INTO reservations (provider, amount_micro, created_at)"
                                " VALUES (?, ?, ?)", (provider, amount_micro, now)).lastrowid)


def release(path: Path, holds: list[tuple[int, str, int]]) -> None:
    """Drop holds (id, provider, amount) that no ledger row settles."""
    with connect(path, write=True) as conn:
        conn.executemany(f"DELETE FROM reservations WHERE {_HOLD}", holds)


def refusal(path: Path, cost_by_provider: dict[str, int]) -> str | None:
    """Why a planned batch of calls (e.g. a compare run) would break a budget, or None."""
    for s in statuses(path):
        planned = sum(cost for provider, cost in cost_by_provider.items()
                      if s.scope in ("all", provider))
        if planned and s.used + planned > s.limit_micro:
            limit, left = format_usd_pair(s.limit_micro, max(0, s.limit_micro - s.used))
            return (f"This run could cost up to {format_usd(planned)}, but {s.label.lower()} "
                    f"of {limit} has {left} left.")
    return None
