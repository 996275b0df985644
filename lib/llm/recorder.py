"""Where a call's budget is held and its ledger row goes: the ledger in the app's database, or
(tests, a bench) memory. The call seam is handed one; no call needs a database of its own."""

from __future__ import annotations

import threading
from typing import Any, Protocol

from lib import spend
from lib.spend import CallRecord
from lib.storage import Database


class Recorder(Protocol):
    def applies(self, provider: str, *, api_key: int | None, user: str | None) -> bool:
        """Whether any budget covers such a call (a read: free calls skip the write)."""

    def reserve(self, provider: str, expected_micro: int, bound_micro: int, *,
                api_key: int | None, user: str | None) -> int | None:
        """Admit the call on its expected cost and hold its bound, or raise
        BudgetExceededError; returns the hold, settled by `record` or given back by
        `release`."""

    def release(self, hold: int, provider: str, amount_micro: int) -> None:
        """Give back a hold no ledger row will settle (a call never sent)."""

    def record(self, call: CallRecord, *, settles: int | None,
               payload: dict[str, Any] | None) -> int:
        """Store the call's row (and what it sent and got back); sets and returns its id."""


class LedgerRecorder:
    """The app's ledger and budgets, in its database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def applies(self, provider: str, *, api_key: int | None, user: str | None) -> bool:
        return spend.applies(self.db, provider, api_key=api_key, user=user)

    def reserve(self, provider: str, expected_micro: int, bound_micro: int, *,
                api_key: int | None, user: str | None) -> int | None:
        return spend.reserve(self.db, provider, expected_micro, bound_micro=bound_micro,
                             api_key=api_key, user=user)

    def release(self, hold: int, provider: str, amount_micro: int) -> None:
        spend.release(self.db, [(hold, provider, amount_micro)])

    def record(self, call: CallRecord, *, settles: int | None,
               payload: dict[str, Any] | None) -> int:
        return spend.record(self.db, call, settles=settles, payload=payload)


class MemoryRecorder:
    """Rows kept in a list, no budgets: for tests and benches that want no database."""

    def __init__(self) -> None:
        self.calls: list[CallRecord] = []
        self.payloads: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def applies(self, provider: str, *, api_key: int | None, user: str | None) -> bool:
        return False

    def reserve(self, provider: str, expected_micro: int, bound_micro: int, *,
                api_key: int | None, user: str | None) -> int | None:
        return None

    def release(self, hold: int, provider: str, amount_micro: int) -> None:
        pass

    def record(self, call: CallRecord, *, settles: int | None,
               payload: dict[str, Any] | None) -> int:
        with self._lock:
            self.calls.append(call)
            call.id = len(self.calls)
            if payload is not None:
                self.payloads[call.id] = payload
        return call.id
