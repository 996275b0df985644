"""Spend: the ledger (one row per model call), budgets with reservations, cost aggregates."""

from lib.core import lazy_face

__getattr__, __dir__, __all__ = lazy_face(__name__, {
    "lib.spend.budgets": (
        "PERIODS", "USER_SCOPE", "WARN_AT", "BudgetStatus", "applies", "refusal", "release",
        "renew", "reserve", "set_budget", "statuses", "user_scope"
    ),
    "lib.spend.costs": (
        "DIMENSIONS", "Filters", "dashboard", "hit_rate", "latest_calls", "options",
        "structured_by_model", "routing_savings", "spend_by_user"
    ),
    "lib.spend.ledger": (
        "PAYLOAD_CHARS", "CallDetail", "CallRecord", "Payload", "bounded", "call_detail",
        "count_calls", "get_call", "latest_call_id", "recent_runs", "record", "record_many",
        "run_calls",
        "spend_since_micro", "spend_today_micro"
    ),
})
