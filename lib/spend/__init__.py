"""Spend: the ledger (one row per model call), budgets with reservations, cost aggregates."""

from lib.spend.budgets import (
    PERIODS,
    WARN_AT,
    BudgetStatus,
    applies,
    refusal,
    reserve,
    set_budget,
    statuses,
)
from lib.spend.costs import DIMENSIONS, Filters, dashboard, hit_rate, options
from lib.spend.ledger import (
    CallRecord,
    count_calls,
    get_call,
    record,
    record_many,
    spend_since_micro,
    spend_today_micro,
)

__all__ = [
    "DIMENSIONS", "PERIODS", "WARN_AT", "BudgetStatus", "CallRecord", "Filters", "applies",
    "count_calls", "dashboard", "get_call", "hit_rate", "options", "record", "record_many",
    "refusal", "reserve", "set_budget", "spend_since_micro", "spend_today_micro", "statuses",
]
