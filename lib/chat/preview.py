"""What the Chat page shows before a message is sent: how full the next call would be, and
the provider's own exact count where it offers one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lib.chat.context import ContextPlan, alternate, plan_context
from lib.chat.conversations import StoredMessage
from lib.chat.summaries import Summary, sent_text
from lib.core import Settings
from lib.llm import ChatRequest, Message, ModelInfo, counter_for, get_provider


@dataclass(frozen=True)
class NextCall:
    plan: ContextPlan
    expected_documents: int     # before a grounded turn its documents are unknown: last turn's

    @property
    def used(self) -> int:
        return self.plan.used + self.expected_documents


def next_call(settings: Settings, model: ModelInfo, system: str,
              history: Sequence[StoredMessage], max_tokens: int, *,
              grounded: bool, summary: Summary | None = None) -> NextCall:
    """The next call, if the next message is as long as the last one (may raise
    ContextOverflowError when the system prompt alone does not fit). With a `summary`, it
    is sent in place of the messages it covers."""
    through = summary.through_id if summary else 0
    turns = [Message(m.role, m.content) for m in history  # type: ignore[arg-type]
             if m.id > through]
    typical = next((m.content for m in reversed(history) if m.role == "user"), "")
    plan = plan_context(counter_for(model, settings), model, system, turns, typical,
                        max_tokens, summary=sent_text(summary) if summary else "")
    docs = next((m.meta.get("documents_tokens", 0) for m in reversed(history)
                 if m.role == "assistant"), 0) if grounded else 0
    return NextCall(plan, docs)


def provider_count(settings: Settings, model: ModelInfo, history: Sequence[Message],
                   system: str) -> int | None:
    """The provider's own count of a conversation, where it offers one (Anthropic)."""
    provider = get_provider(model.provider, settings)
    count = getattr(provider, "count_tokens", None)
    messages = tuple(m for m in alternate(history) if m.content)  # no empty turns allowed
    if count is None or not messages:
        return None
    return count(ChatRequest(model.id, messages, system=system))
