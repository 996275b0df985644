"""What the Chat page shows before a message is sent: how full the next call would be, and
the provider's own exact count where it offers one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lib.chat.compaction import sent
from lib.chat.context import ContextPlan, alternate, plan_context
from lib.chat.conversations import StoredMessage
from lib.chat.summaries import Summary, sent_text
from lib.core import Settings
from lib.llm import ChatRequest, Message, ModelInfo, counter_for, get_provider


@dataclass(frozen=True)
class NextCall:
    """The next call with the history as it is and the next message not typed yet: what it
    leaves out is left out whatever is typed, and `room` is what the message may take before
    more is left out (or summarised)."""

    plan: ContextPlan
    expected_documents: int     # before a grounded turn its documents are unknown: last turn's
    left_out: frozenset[int] = frozenset()  # the stored messages it leaves out

    @property
    def used(self) -> int:
        return self.plan.used + self.expected_documents

    @property
    def room(self) -> int:
        """Tokens the next message may take before the oldest kept turns are left out."""
        return max(0, self.plan.window - self.used)


def next_call(settings: Settings, model: ModelInfo, system: str,
              history: Sequence[StoredMessage], max_tokens: int, *,
              grounded: bool, summary: Summary | None = None) -> NextCall:
    """The next call with an empty next message (may raise ContextOverflowError when the
    system prompt alone does not fit). With a `summary`, it is sent in place of the messages
    it covers."""
    through = summary.through_id if summary else 0
    owners = [(m.id, p) for m in history if m.id > through for p in sent(m)]
    plan = plan_context(counter_for(model, settings), model, system, [p for _, p in owners],
                        "", max_tokens, summary=sent_text(summary) if summary else "")
    docs = next((m.meta.get("documents_tokens", 0) for m in reversed(history)
                 if m.role == "assistant"), 0) if grounded else 0
    last = owners[plan.dropped - 1][0] if plan.dropped else 0
    return NextCall(plan, docs, frozenset(m.id for m in history if through < m.id <= last))


def provider_count(settings: Settings, model: ModelInfo, history: Sequence[Message],
                   system: str) -> int | None:
    """The provider's own count of a conversation, where it offers one (Anthropic)."""
    provider = get_provider(model.provider, settings)
    count = getattr(provider, "count_tokens", None)
    messages = tuple(m for m in alternate(history) if m.content)  # no empty turns allowed
    if count is None or not messages:
        return None
    return count(ChatRequest(model.id, messages, system=system))
