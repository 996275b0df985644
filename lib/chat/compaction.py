"""A turn's history under its conversation's strategy: with "summarise", the stored summary
goes in place of the turns it covers, and the turns the plan would drop are folded into it
before the call; with "window", the oldest turns are left out."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lib.chat.context import ContextPlan
from lib.chat.conversations import StoredMessage
from lib.chat.summaries import (
    SUMMARISE,
    SUMMARY_TOKENS,
    WINDOW,
    Summary,
    active_summary,
    sent_text,
    summarise,
    summary_model,
)
from lib.chat.tool_turns import expand
from lib.core import PromptLabError, Settings
from lib.llm import Calls, Message

log = logging.getLogger(__name__)


@dataclass
class Compaction:
    """One turn's history under its conversation's strategy: the summary sent in place of
    the turns it covers, and folding the turns the plan would drop into it."""

    settings: Settings
    conversation_id: int | None
    stored: list[StoredMessage]      # the history the turn builds on, oldest first
    strategy: str = WINDOW
    summary: Summary | None = None
    made: bool = False               # this turn wrote a new summary
    failed: str = ""                 # why summarising failed: the turn used the window

    @classmethod
    def load(cls, settings: Settings, conversation_id: int | None,
             stored: Sequence[StoredMessage], strategy: str,
             before: int | None = None) -> Compaction:
        summary = None
        if strategy == SUMMARISE and conversation_id is not None:
            summary = active_summary(settings.db, conversation_id, before,
                                     branch=[m.id for m in stored])
        return cls(settings, conversation_id, [m for m in stored if before is None
                                               or m.id < before], strategy, summary)

    def kept(self) -> list[StoredMessage]:
        """The messages the summary does not cover."""
        through = self.summary.through_id if self.summary else 0
        return [m for m in self.stored if m.id > through]

    def history(self) -> list[Message]:
        """The turns sent verbatim, each as the model saw it (tool calls and results too)."""
        return [p for m in self.kept() for p in sent(m)]

    def to_fold(self, plan: ContextPlan) -> list[StoredMessage]:
        """The messages a summary would take in before the call `plan` describes."""
        kept = self.kept()
        owners = [m.id for m in kept for _ in sent(m)]
        through = owners[plan.dropped - 1] if plan.dropped else 0
        return [m for m in kept if m.id <= through]

    def block(self) -> str:
        return sent_text(self.summary) if self.summary else ""

    def due(self, plan: ContextPlan) -> bool:
        """Summarise before this call: the strategy says so and the plan would drop turns."""
        return (self.strategy == SUMMARISE and plan.dropped > 0
                and self.conversation_id is not None and not (self.made or self.failed))

    def fold(self, plan: ContextPlan, calls: Calls | None = None,
             cancel: threading.Event | None = None) -> bool:
        """If due, fold the summary and the turns `plan` drops into a new summary through
        `calls` (the turn's seam); True if the turn must plan again. A failure is logged and
        kept in `failed`: the window applies."""
        conversation_id = self.conversation_id
        if conversation_id is None or not self.due(plan):
            return False
        try:
            writer = summary_model(self.settings)
            self.summary = summarise(self.settings, conversation_id, self.summary,
                                     self.to_fold(plan),
                                     max_tokens=min(SUMMARY_TOKENS, plan.window // 8),
                                     model=writer, calls=calls, cancel=cancel)
        except PromptLabError as exc:  # the model, its budget or its window: keep the window
            log.warning("conversation %s: summarising failed (%s)", self.conversation_id,
                        type(exc).__name__)
            self.failed = str(exc)
            return False
        self.made = True
        return True

    def meta(self, plan: ContextPlan) -> dict[str, Any]:
        """What the reply keeps: the summary it was sent with, or why there was none."""
        out: dict[str, Any] = {}
        if self.summary is not None and plan.summary_tokens:
            out["summary"] = {"id": self.summary.id, "covered": self.summary.covered,
                              "made": self.made, "call_id": self.summary.call_id,
                              "edited": self.summary.edited}
        if self.failed:
            out["summary_failed"] = self.failed
        return out


def sent(m: StoredMessage) -> list[Message]:
    """A stored message as the model is sent it: a reply that came back empty is not sent
    (providers refuse an empty turn; the user turns around it merge)."""
    if m.role == "assistant" and not m.content and not m.meta.get("steps"):
        return []
    return expand(m.role, m.content, m.meta)
