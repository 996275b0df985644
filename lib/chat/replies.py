"""What a stored reply keeps besides its text: model, tokens (reasoning tokens too), cost,
timings, its context's anatomy and what was left out (shown under the reply)."""

from __future__ import annotations

from typing import Any

from lib.chat.context import ContextPlan
from lib.llm import ModelInfo
from lib.spend import CallRecord


def reply_meta(model: ModelInfo, record: CallRecord, plan: ContextPlan) -> dict[str, Any]:
    """What is shown under a reply: model, tokens, cost, timings, and what was left out."""
    return {"model": model.key, "label": model.label, "input_tokens": record.input_tokens,
            "output_tokens": record.output_tokens, "estimated": record.usage_estimated,
            "cost_micro": record.cost_micro, "unpriced": int(not record.priced),
            "ttft_ms": record.ttft_ms,
            "total_ms": record.total_ms, "dropped": plan.dropped,
            "anatomy": {**plan.bands(), "window": plan.window, "input": plan.input_tokens,
                        "counter": plan.counter},
            "documents_tokens": plan.documents_tokens,
            "error": record.error_message, "error_kind": record.error_kind,
            "route": record.route, "baseline_micro": record.baseline_micro}


def reasoning_meta(model: ModelInfo, tokens: int) -> dict[str, Any]:
    """The reply's reasoning tokens (0: none reported) and what they cost: billed as output."""
    return {"reasoning_tokens": tokens, "reasoning_micro": model.cost_micro(0, tokens)}
