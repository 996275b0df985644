"""A conversation as a page (or the API) works with it: `draft` reads it once and plans the
next turn; the draft's `send` streams that turn.

    session = ChatSession(settings, conversation_id, user=...)
    draft = session.draft(options, Ask("hello"), model)    # or a Routing in place of a model
    draft.history, draft.summary, draft.estimate, draft.model  # what the page draws
    for event in draft.send(): ...                             # lib.chat.events

Building a session does no I/O; a draft reads the branch shown once, its summary once,
converts the stored messages once (the same messages the model is sent) and plans the context
once, for the model the router chose if it routes. Sending retrieves (a grounded turn), may
fold earlier turns into the summary, reserves, stores and streams (lib.chat.turn).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from lib.chat.compaction import Compaction, sent
from lib.chat.context import ContextPlan, plan_context
from lib.chat.conversations import Conversation, StoredMessage, get_conversation, list_messages
from lib.chat.events import TurnEvent
from lib.chat.options import TurnOptions
from lib.chat.routing import Routing, route_turn
from lib.chat.summaries import SUMMARISE, Summary, active_summary, sent_text
from lib.chat.tool_turns import give_results
from lib.chat.turn import ChatTurn
from lib.core import NotFoundError, PromptLabError, Settings, ToolError
from lib.llm import (
    Calls,
    Message,
    ModelInfo,
    Routed,
    counter_for,
    thinking_budget,
)


@dataclass(frozen=True)
class Ask:
    """What the person asks this turn: a new message, or a resend — an edit (`replace_from`:
    a branch beside that message), a regenerate (`again`: that user message asked again), or
    a paused agent run that goes on (`continue_from`, with the results the user `typed`)."""

    text: str = ""
    replace_from: int | None = None
    again: bool = False
    continue_from: int | None = None
    typed: dict[str, str] | None = None
    skip_summary: str = ""           # why this turn does not summarise (a Stop gave it up)


@dataclass(frozen=True)
class Estimate:
    """The next call as planned now: what it leaves out (whatever is typed, when nothing is
    typed yet), and what the next message may take before more is left out."""

    plan: ContextPlan
    expected_documents: int          # a grounded turn's documents are unknown: last turn's
    left_out: frozenset[int] = frozenset()  # the stored messages it leaves out

    @property
    def used(self) -> int:
        return self.plan.used + self.expected_documents

    @property
    def room(self) -> int:
        """Tokens the next message may take before the oldest kept turns are left out."""
        return max(0, self.plan.window - self.used)


@dataclass
class Draft:
    """The next turn, planned: everything a page draws before sending, and `send()`."""

    settings: Settings
    conversation: Conversation | None
    history: list[StoredMessage]       # the branch shown, up to what a resend replaces
    compaction: Compaction             # the summary sent in place of the earliest turns
    messages: list[Message]            # the history as the model is sent it
    model: ModelInfo                   # chosen, or routed
    options: TurnOptions
    ask: Ask
    routed: Routed | None = None
    estimate: Estimate | None = None   # None when it could not be planned: `problem` says why
    problem: PromptLabError | None = None
    calls: Calls | None = field(default=None, repr=False)

    @property
    def summary(self) -> Summary | None:
        return self.compaction.summary

    def send(self) -> Iterator[TurnEvent]:
        """Stream the turn (lib.chat.turn): may raise a PromptLabError before anything is
        stored (a budget, the window, a provider that is not available)."""
        yield from ChatTurn(self, self.calls)


class ChatSession:
    """One conversation (or a new one, `conversation_id` None) for one person."""

    def __init__(self, settings: Settings, conversation: Conversation | None, *,
                 calls: Calls | None = None) -> None:
        self.settings, self.conversation, self.calls = settings, conversation, calls

    @classmethod
    def open(cls, settings: Settings, conversation_id: int | None, *, user: str | None = None,
             calls: Calls | None = None) -> ChatSession:
        """By id: someone else's conversation reads as missing (NotFoundError)."""
        conversation = None if conversation_id is None else get_conversation(
            settings.db, conversation_id, owner=user)
        return cls(settings, conversation, calls=calls)

    def draft(self, options: TurnOptions, ask: Ask = Ask(),
              model: ModelInfo | Routing | None = None) -> Draft:
        """Read the conversation and plan the next turn for `model` (a Routing: the router
        picks it from the turn's whole input); a plan that cannot be made is the draft's
        `problem`."""
        conversation = self.conversation
        history = [] if conversation is None else list_messages(self.settings.db,
                                                                conversation.id)
        before = ask.replace_from
        going_on = next((m for m in history if m.id == ask.continue_from), None)
        if going_on is not None and going_on.meta.get("run_end") == "awaiting":
            # The typed results belong in the history before it is converted: it is sent.
            # Any missing are said when it is sent (the turn asks again), not here.
            with contextlib.suppress(ToolError):
                give_results(going_on.meta, ask.typed or {})
        if ask.again and not any(m.id == before and m.role == "user" for m in history):
            raise NotFoundError("That message is no longer on this branch of the "
                                "conversation: nothing was asked again.")
        summary = None
        if options.history == SUMMARISE and conversation is not None:
            summary = active_summary(self.settings.db, conversation.id, before,
                                     branch=[m.id for m in history])
        compaction = Compaction(self.settings, conversation.id if conversation else None,
                                [m for m in history if before is None or m.id < before],
                                options.history, summary)
        compaction.failed = ask.skip_summary
        messages = compaction.history()
        routed = None
        if isinstance(model, Routing):
            routed = route_turn(self.settings, model, options.system,
                                [*messages, Message("user", ask.text)])
            model = routed.model
            options = options.routed(routed)
        if model is None:
            raise NotFoundError("No model was chosen for the turn.")
        draft = Draft(self.settings, conversation, compaction.stored, compaction, messages,
                      model, options, ask, routed, calls=self.calls)
        try:
            draft.estimate = _estimate(draft)
        except PromptLabError as exc:  # the system prompt alone overflows, a tokenizer...
            draft.problem = exc
        return draft


def _estimate(draft: Draft) -> Estimate:
    """The next call for the draft's model with its message as typed (nothing yet: what it
    leaves out is left out whatever is typed)."""
    kept = draft.compaction.kept()
    owners = [m.id for m in kept for _ in sent(m)]
    o = draft.options
    plan = plan_context(counter_for(draft.model, draft.settings), draft.model, o.system,
                        draft.messages, draft.ask.text, min(o.max_tokens,
                                                            draft.model.max_output),
                        summary=sent_text(draft.summary) if draft.summary else "",
                        thinking=thinking_budget(draft.model, o.reasoning))
    docs = next((m.meta.get("documents_tokens", 0) for m in reversed(draft.history)
                 if m.role == "assistant"), 0) if o.knowledge_base else 0
    last = owners[plan.dropped - 1] if plan.dropped else 0
    through = draft.summary.through_id if draft.summary else 0
    return Estimate(plan, docs, frozenset(m.id for m in draft.history
                                          if through < m.id <= last))
