"""Daily and monthly budgets, overall, per provider and per user (scope "user:<id>", once
sign-in is on), and the lifetime budget of an HTTP API key (lib.api).

A paid call comes with two amounts: its expected cost (input as our counter gives it, with
a margin when that is an estimate, plus the full max output) and its bound, what it can cost
at most whatever the upstream's tokenizer counts (lib.llm.Call.bound_micro). In one IMMEDIATE
transaction that checks every budget the call falls under, it is let through only while
spent + the bounds held by calls in flight + its expected cost stay within each limit, and
then it holds its bound; the ledger row that records the real cost releases the hold in the
same transaction. So an upstream that counts more than we estimate can take a budget past
its limit by at most the last admitted call's bound minus its expected cost: every call
admitted before it is within its bound, and the check made room for them. (Holding only the
estimate let 50 concurrent calls against a server counting 2x spend 168% of a key's budget.)
Calls that cost nothing (the local model) are never reserved nor blocked. A key's spend is
the sum of its ledger rows (`api_keys.spent_micro`, kept by a trigger).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from lib.core import BudgetError, BudgetExceededError, format_usd, format_usd_pair, to_micro
from lib.storage import Database

PERIODS = ("day", "month")
WARN_AT = 0.8
STALE_AFTER = dt.timedelta(hours=1)   # a reservation older than this was left by a crash
USER_SCOPE = "user:"                  # a user's budget: this prefix and their id


def user_scope(user: str) -> str:
    """The scope of `user`'s own budget (all their paid calls, any provider)."""
    return USER_SCOPE + user


def _over(provider: str, user: str | None) -> tuple[str, list[str]]:
    """The budgets' WHERE clause for a call to `provider` made by `user`."""
    scopes = ["all", provider, *([user_scope(user)] if user else [])]
    return f"scope IN ({', '.join('?' * len(scopes))})", scopes


@dataclass(frozen=True)
class BudgetStatus:
    scope: str                # "all", a provider, or "user:" and a user's id
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
    def user(self) -> str | None:
        """Whose budget this is, for a per-user one."""
        return self.scope[len(USER_SCOPE):] if self.scope.startswith(USER_SCOPE) else None

    @property
    def label(self) -> str:
        when = "Today" if self.period == "day" else "This month"
        if self.user is not None:
            return f"{when}'s budget for {self.user}"
        return f"{when}'s {'overall' if self.scope == 'all' else self.scope} budget"


def _period_start(period: str, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    day = now.date() if period == "day" else now.date().replace(day=1)
    return day.isoformat()


def set_budget(db: Database, scope: str, period: str, limit_usd: float | None) -> None:
    """Set a budget in dollars; None removes it."""
    if period not in PERIODS:
        raise BudgetError(f"A budget period is 'day' or 'month', not {period!r}.")
    if scope.startswith(USER_SCOPE) and not scope[len(USER_SCOPE):].strip():
        raise BudgetError("A user's budget needs the user's id (their verified sign-in email, "
                          "or the id the sidebar shows them).")
    with db.connect(write=True) as conn:
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
    user = scope[len(USER_SCOPE):] if scope.startswith(USER_SCOPE) else None
    table, where, args = ("calls_daily", "", []) if scope == "all" else (
        ("user_days", " AND user_id = ?", [user]) if user is not None
        else ("calls_daily", " AND provider = ?", [scope]))
    spent = conn.execute(f"SELECT COALESCE(SUM(cost_micro), 0) FROM {table} WHERE day >= ?"
                         f"{where}", [start, *args]).fetchone()[0]
    reserved = conn.execute(f"SELECT COALESCE(SUM(amount_micro), 0) FROM reservations WHERE "
                            f"created_at >= ?{where}", [cutoff, *args]).fetchone()[0]
    return BudgetStatus(scope, period, limit_micro, spent, reserved)


def statuses(db: Database, *, user: str | None = None, everyone: bool = False
             ) -> list[BudgetStatus]:
    """The overall and provider budgets, with `user`'s own budget (every user's: `everyone`)."""
    with db.connect() as conn:
        rows = conn.execute("SELECT scope, period, limit_micro FROM budgets "
                            "ORDER BY scope = 'all' DESC, scope, period").fetchall()
        return [_status(conn, *r) for r in rows if everyone or not r[0].startswith(USER_SCOPE)
                or (user and r[0] == user_scope(user))]


def applies(db: Database, provider: str, *, api_key: int | None = None,
            user: str | None = None) -> bool:
    """Whether any budget covers calls to `provider` by `user`, or `api_key` has one (a read:
    no lock is taken).

    A call with no budget over it reserves nothing, so its first token is not held up by a
    write. A budget created while such a call is in flight applies from the next call.
    """
    with db.connect() as conn:
        where, scopes = _over(provider, user)
        if conn.execute(f"SELECT 1 FROM budgets WHERE {where} LIMIT 1",
                        scopes).fetchone() is not None:
            return True
        return api_key is not None and conn.execute(
            "SELECT 1 FROM api_keys WHERE id = ? AND budget_micro IS NOT NULL",
            (api_key,)).fetchone() is not None


def _check_key(conn, api_key: int, amount_micro: int) -> None:
    """Refuse a call that could take an API key past its budget: spent plus held plus this."""
    row = conn.execute("SELECT name, budget_micro, spent_micro FROM api_keys WHERE id = ?",
                       (api_key,)).fetchone()
    if row is None or row["budget_micro"] is None:
        return
    held = conn.execute("SELECT COALESCE(SUM(amount_micro), 0) FROM reservations WHERE "
                        "api_key_id = ? AND created_at >= ?",
                        (api_key, _stale_cutoff())).fetchone()[0]
    limit_micro, used = row["budget_micro"], row["spent_micro"] + held
    if used + amount_micro > limit_micro:
        limit, left = format_usd_pair(limit_micro, max(0, limit_micro - used))
        raise BudgetExceededError(
            f"API key '{row['name']}' has a budget of {limit} with {left} left; this call "
            f"could cost up to {format_usd(amount_micro)}, so it was not sent.",
            hint="Lower max_tokens, use the local model (free), or raise the key's budget on "
                 "the API page.")


def reserve(db: Database, provider: str, amount_micro: int, *, bound_micro: int | None = None,
            api_key: int | None = None, user: str | None = None) -> int | None:
    """Let a call through if spent + held + its expected cost (`amount_micro`) fits every
    budget over `provider`, `user`'s budget and `api_key`'s budget, and hold its bound
    (`bound_micro`, the most it can cost; default the expected cost); or refuse it."""
    bound_micro = max(amount_micro, bound_micro or 0)
    if bound_micro <= 0:
        return None
    with db.connect(write=True) as conn:  # IMMEDIATE: one reserver at a time
        conn.execute("DELETE FROM reservations WHERE created_at < ?", (_stale_cutoff(),))
        where, scopes = _over(provider, user)
        for scope, period, limit_micro in conn.execute(
                f"SELECT scope, period, limit_micro FROM budgets WHERE {where}",
                scopes).fetchall():
            s = _status(conn, scope, period, limit_micro)
            if s.used + amount_micro > limit_micro:
                limit, left = format_usd_pair(limit_micro, max(0, limit_micro - s.used))
                raise BudgetExceededError(
                    f"{s.label} of {limit} has {left} left; this call could cost up to "
                    f"{format_usd(amount_micro)}, so it was not sent.",
                    hint="Raise the budget on the Costs page, lower max tokens, or use the "
                         "local model, which is free.")
        if api_key is not None:
            _check_key(conn, api_key, amount_micro)
        cur = conn.execute("INSERT INTO reservations (provider, amount_micro, created_at, "
                           "api_key_id, user_id) VALUES (?, ?, ?, ?, ?)",
                           (provider, bound_micro,
                            dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                            api_key, user))
        return int(cur.lastrowid)


# A long hold (a batch run: many ledger rows, up to a day) is matched on provider and amount
# too: a hold dropped as stale may have seen its id go to another call since.
_HOLD = "id = ? AND provider = ? AND amount_micro = ?"


def renew(db: Database, hold: int, provider: str, amount_micro: int, *,
          user: str | None = None) -> int:
    """Keep a long hold current (holds older than STALE_AFTER are dropped as crash
    leftovers); takes it again (for `user`) if it was dropped. Returns the hold's id."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    with db.connect(write=True) as conn:
        if conn.execute(f"UPDATE reservations SET created_at = ? WHERE {_HOLD}",
                        (now, hold, provider, amount_micro)).rowcount:
            return hold
        return int(conn.execute("INSERT INTO reservations (provider, amount_micro, created_at,"
                                " user_id) VALUES (?, ?, ?, ?)",
                                (provider, amount_micro, now, user)).lastrowid)


def draw(db: Database, hold: int, provider: str, amount_micro: int, by_micro: int) -> int:
    """Take `by_micro` off a hold of `amount_micro` (one call of a run that holds for all its
    calls has its ledger row now); returns what the hold keeps."""
    left = max(0, amount_micro - by_micro)
    with db.connect(write=True) as conn:
        conn.execute(f"UPDATE reservations SET amount_micro = ? WHERE {_HOLD}",
                     (left, hold, provider, amount_micro))
    return left


def settle(conn: Any, hold: int) -> None:
    """Drop the hold a ledger row settles, inside the transaction that writes the row."""
    conn.execute("DELETE FROM reservations WHERE id = ?", (hold,))


def release(db: Database, holds: list[tuple[int, str, int]]) -> None:
    """Drop holds (id, provider, amount) that no ledger row settles."""
    with db.connect(write=True) as conn:
        conn.executemany(f"DELETE FROM reservations WHERE {_HOLD}", holds)


def refusal(db: Database, cost_by_provider: dict[str, int], *,
            user: str | None = None) -> str | None:
    """Why a planned batch of calls (e.g. a compare run by `user`) would break a budget."""
    for s in statuses(db, user=user):
        planned = sum(cost for provider, cost in cost_by_provider.items()
                      if s.scope in ("all", provider) or s.user is not None)
        if planned and s.used + planned > s.limit_micro:
            limit, left = format_usd_pair(s.limit_micro, max(0, s.limit_micro - s.used))
            return (f"This run could cost up to {format_usd(planned)}, but {s.label.lower()} "
                    f"of {limit} has {left} left.")
    return None
