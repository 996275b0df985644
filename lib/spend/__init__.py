"""Spend: the ledger (one row per model call), budgets with reservations, cost aggregates."""

from typing import TYPE_CHECKING

from lib.core import lazy_face

if TYPE_CHECKING:  # the face (lazy_face reads it: each module loads on first use)
    from lib.spend.budgets import (
        PERIODS,
        USER_SCOPE,
        WARN_AT,
        BudgetStatus,
        applies,
        draw,
        refusal,
        release,
        renew,
        reserve,
        set_budget,
        statuses,
        user_scope,
    )
    from lib.spend.costs import (
        DIMENSIONS,
        Filters,
        dashboard,
        hit_rate,
        latest_calls,
        options,
        response_cache,
        routing_savings,
        spend_by_user,
        structured_by_model,
        unpriced_calls,
    )
    from lib.spend.ledger import (
        PAYLOAD_CHARS,
        CallDetail,
        CallRecord,
        Payload,
        bounded,
        call_detail,
        count_calls,
        get_call,
        latest_call_id,
        recent_runs,
        record,
        record_many,
        run_calls,
        spend_since_micro,
        spend_today_micro,
    )
    from lib.spend.metrics import LATENCY_BUCKETS_S, Latencies, LedgerGroup, LedgerTotals
else:
    __getattr__, __dir__, __all__ = lazy_face(__name__)
