"""The terms of a model call: who makes it (stored with its ledger row, and whose budgets it
draws on) and how hard it is tried."""

from __future__ import annotations

from dataclasses import dataclass

from lib.llm.modelinfo import ModelInfo


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    initial_wait_s: float = 0.5
    max_wait_s: float = 8.0
    max_retry_after_s: float = 60.0   # a longer retry-after fails at once, with the wait shown
    deadline_s: float = 300.0         # the whole call, retries included


@dataclass(frozen=True)
class CallContext:
    """Who made the call: stored with the ledger row."""

    page: str
    prompt_name: str | None = None
    prompt_version: int | None = None
    conversation_id: int | None = None
    run_id: str | None = None        # an agent run, and which of its steps this call is
    step: int | None = None
    repair_of: int | None = None     # the ledger row whose reply failed its schema
    fallback_of: int | None = None   # the ledger row whose model failed before this one
    route: str | None = None         # why this model answers (router rule, fallback reason)
    baseline: ModelInfo | None = None  # routed: the top model, whose price is the baseline
    api_key_id: int | None = None    # the HTTP API key it was made with: its budget applies
    user: str | None = None          # the signed-in user who made it: their budget applies
    repeat: int = 0                  # which repeat of the same request (evals): cached apart
