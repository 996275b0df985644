"""One budget reservation for a whole workflow run, which each of its calls draws from.

Before any call the run holds its forecast (per provider: a reservation row carries one);
a budget that cannot take it refuses the run then. Each step's calls go through a
StepRecorder: a call's bound is taken from the run's hold instead of a reservation of its
own, and when its ledger row is written the hold shrinks by that bound (the row now counts
what it cost). A call the forecast did not foresee (an agent's extra step) reserves on its
own, checked like any call. At the end — done, failed or stopped — the unspent hold goes
back. Every row is stamped with the run's id and the step's place in the file.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from lib import spend
from lib.core import BudgetExceededError
from lib.llm import Recorder
from lib.spend import CallRecord
from lib.storage import Database


class RunBudget:
    """The run's holds, by provider: [hold id, amount in the row, amount not yet drawn]."""

    def __init__(self, db: Database, *, user: str | None = None,
                 api_key: int | None = None) -> None:
        self.db, self.user, self.api_key = db, user, api_key
        self.holds: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._tokens = itertools.count(-1, -1)   # draws: never a real hold's id

    def hold(self, expected: dict[str, int], bounds: dict[str, int]) -> None:
        """Reserve each provider's bound, admitted on its expected cost (the forecast), or
        raise BudgetExceededError holding nothing."""
        try:
            for provider, amount in sorted(expected.items()):
                bound = max(amount, bounds.get(provider, 0))
                if bound > 0 and spend.applies(self.db, provider, api_key=self.api_key,
                                               user=self.user):
                    hold = spend.reserve(self.db, provider, amount, bound_micro=bound,
                                         api_key=self.api_key, user=self.user)
                    if hold is not None:
                        self.holds[provider] = [hold, bound, bound]
        except BudgetExceededError:
            self.release()
            raise

    @property
    def held_micro(self) -> int:
        return sum(h[1] for h in self.holds.values())

    def take(self, provider: str, amount: int) -> int | None:
        """A draw of `amount` from the provider's hold (its token), or None if it cannot."""
        with self._lock:
            h = self.holds.get(provider)
            if h is None or h[2] < amount:
                return None
            h[2] -= amount
            return next(self._tokens)

    def give_back(self, provider: str, amount: int) -> None:
        with self._lock:
            self.holds[provider][2] += amount

    def spent(self, provider: str, amount: int) -> None:
        """A drawn call has its ledger row: the hold keeps that much less."""
        with self._lock:
            h = self.holds[provider]
            h[1] = spend.draw(self.db, h[0], provider, h[1], amount)

    def release(self) -> None:
        """Give back what the run still holds."""
        with self._lock:
            holds = [(h[0], p, h[1]) for p, h in self.holds.items()]
            self.holds.clear()
        if holds:
            spend.release(self.db, holds)


class StepRecorder:
    """A step's recorder (lib.llm.Recorder): draws on the run's hold; rows go to `inner`,
    stamped with the run and the step."""

    def __init__(self, inner: Recorder, budget: RunBudget, run_id: str, step: int) -> None:
        self.inner, self.budget, self.run_id, self.step = inner, budget, run_id, step
        self._draws: dict[int, tuple[str, int]] = {}

    def applies(self, provider: str, *, api_key: int | None, user: str | None) -> bool:
        return provider in self.budget.holds or self.inner.applies(provider, api_key=api_key,
                                                                   user=user)

    def reserve(self, provider: str, expected_micro: int, bound_micro: int, *,
                api_key: int | None, user: str | None) -> int | None:
        token = self.budget.take(provider, bound_micro)
        if token is None:
            return self.inner.reserve(provider, expected_micro, bound_micro, api_key=api_key,
                                      user=user)
        self._draws[token] = (provider, bound_micro)
        return token

    def release(self, hold: int, provider: str, amount_micro: int) -> None:
        if hold in self._draws:
            self.budget.give_back(*self._draws.pop(hold))
        else:
            self.inner.release(hold, provider, amount_micro)

    def record(self, call: CallRecord, *, settles: int | None,
               payload: dict[str, Any] | None) -> int:
        call.run_id, call.step = self.run_id, self.step
        if settles is None or settles not in self._draws:
            return self.inner.record(call, settles=settles, payload=payload)
        provider, amount = self._draws.pop(settles)
        try:
            return self.inner.record(call, settles=None, payload=payload)
        finally:  # the row first: for a moment the cost counts twice, never not at all
            self.budget.spent(provider, amount)
