"""The chat service: fit the conversation into the context window, call, and persist the turn."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from lib import conversations
from lib.calls import Call, CallContext, RetryPolicy
from lib.catalog import ModelInfo
from lib.errors import ContextOverflowError
from lib.ledger import CallRecord
from lib.providers import get_provider
from lib.providers.base import ChatRequest, Event, Message, Provider
from lib.settings import Settings
from lib.tokens import Counter, counter_for


@dataclass(frozen=True)
class ContextPlan:
    """What one call will send, and how full it leaves the model's window."""

    messages: tuple[Message, ...]    # kept history plus the new message
    dropped: int                     # oldest history messages left out to fit
    system_tokens: int
    history_tokens: int
    new_tokens: int
    reserved_output: int
    window: int
    input_tokens: int                # the whole request as the counter sees it
    exact: bool
    counter: str

    @property
    def used(self) -> int:
        return self.input_tokens + self.reserved_output

    @property
    def fraction(self) -> float:
        return min(1.0, self.used / self.window) if self.window else 1.0


def _alternate(messages: Sequence[Message]) -> list[Message]:
    """Merge neighbours with the same role (a failed turn leaves two user messages in a row)."""
    out: list[Message] = []
    for m in messages:
        if out and out[-1].role == m.role:
            out[-1] = Message(m.role, f"{out[-1].content}\n\n{m.content}")
        else:
            out.append(m)
    return out


def plan_context(counter: Counter, model: ModelInfo, system: str, history: Sequence[Message],
                 new: str, max_output: int) -> ContextPlan:
    """Keep the newest turns that fit `window - max_output` (a sliding window)."""
    overhead = counter.message_overhead()
    budget = model.context_window - max_output
    fixed = counter.count_request(ChatRequest(model.id, (Message("user", new),), system=system))
    if fixed > budget:
        raise ContextOverflowError(
            f"The system prompt and your message take about {fixed:,} tokens; with "
            f"{max_output:,} reserved for the reply that exceeds {model.label}'s "
            f"{model.context_window:,}-token window.",
            hint="Shorten the message or the system prompt, or lower max tokens.")
    costs = [counter.count(m.content) + overhead for m in history]
    keep_from, room = len(history), budget - fixed
    while keep_from > 0 and costs[keep_from - 1] <= room:
        room -= costs[keep_from - 1]
        keep_from -= 1

    def build(start: int) -> tuple[int, list[Message], int]:
        # Never start on an assistant message: providers expect the user to speak first.
        while start < len(history) and history[start].role != "user":
            start += 1
        msgs = _alternate([*history[start:], Message("user", new)])
        return start, msgs, counter.count_request(ChatRequest(model.id, tuple(msgs), system))

    keep_from, msgs, total = build(keep_from)
    while total > budget and keep_from < len(history):  # per-message sums can undercount
        keep_from, msgs, total = build(keep_from + 1)
    system_tokens = counter.count(system) + overhead if system else 0
    return ContextPlan(
        messages=tuple(msgs), dropped=keep_from, system_tokens=system_tokens,
        history_tokens=sum(costs[keep_from:]), new_tokens=counter.count(new) + overhead,
        reserved_output=max_output, window=model.context_window, input_tokens=total,
        exact=counter.exact, counter=counter.name)


@dataclass
class TurnOptions:
    system: str = ""
    temperature: float = 0.7
    max_tokens: int = 512
    page: str = "chat"
    prompt_name: str | None = None
    prompt_version: int | None = None


@dataclass
class ChatTurn:
    """One user message and the streamed reply. Iterate for events; the turn is saved as it ends.

    The user's message is stored before the call, so a failure never loses it. The reply is
    stored with its status (ok, incomplete, cancelled) whenever any text arrived.
    """

    settings: Settings
    conversation_id: int
    model: ModelInfo
    user_text: str
    options: TurnOptions = field(default_factory=TurnOptions)
    provider: Provider | None = None
    policy: RetryPolicy | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    plan: ContextPlan = field(init=False)
    call: Call | None = field(init=False, default=None)
    reply_id: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        path = self.settings.db_path
        history = [Message(m.role, m.content)  # type: ignore[arg-type]
                   for m in conversations.messages(path, self.conversation_id)]
        self.counter = counter_for(self.model, self.settings)
        max_tokens = min(self.options.max_tokens, self.model.max_output)
        self.plan = plan_context(self.counter, self.model, self.options.system, history,
                                 self.user_text, max_tokens)
        self.request = ChatRequest(
            model=self.model.id, messages=self.plan.messages, system=self.options.system,
            temperature=self.options.temperature if self.model.temperature else None,
            max_tokens=max_tokens)

    def __iter__(self) -> Iterator[Event]:
        path = self.settings.db_path
        conversations.add_message(path, self.conversation_id, "user", self.user_text,
                                  model=self.model.key, system=self.options.system)
        provider = self.provider or get_provider(self.model.provider, self.settings)
        policy = self.policy or RetryPolicy(deadline_s=self.settings.deadline_s)
        self.call = Call(provider, self.model, self.request,
                         CallContext(self.options.page, self.options.prompt_name,
                                     self.options.prompt_version, self.conversation_id),
                         db_path=path, policy=policy, count_input=self.counter.count_request,
                         count_output=self.counter.count, cancel=self.cancel)
        try:
            yield from self.call
        finally:
            self._save_reply()

    def _save_reply(self) -> None:
        call = self.call
        if call is None or call.record is None or not call.text:
            return
        self.reply_id = conversations.add_message(
            self.settings.db_path, self.conversation_id, "assistant", call.text,
            status=call.record.status, call_id=call.record.id,
            meta=reply_meta(self.model, call.record, self.plan))

    @property
    def record(self) -> CallRecord | None:
        return self.call.record if self.call else None


def reply_meta(model: ModelInfo, record: CallRecord, plan: ContextPlan) -> dict[str, Any]:
    """What is shown under a reply: model, tokens, cost, timings, and what was left out."""
    return {"model": model.key, "label": model.label, "input_tokens": record.input_tokens,
            "output_tokens": record.output_tokens, "estimated": record.usage_estimated,
            "cost_micro": record.cost_micro, "ttft_ms": record.ttft_ms,
            "total_ms": record.total_ms, "dropped": plan.dropped,
            "error": record.error_message, "error_kind": record.error_kind}


def provider_count(settings: Settings, model: ModelInfo, plan: ContextPlan,
                   system: str) -> int | None:
    """The provider's own count of this plan's input, where it offers one (Anthropic)."""
    provider = get_provider(model.provider, settings)
    count = getattr(provider, "count_tokens", None)
    messages = tuple(m for m in plan.messages if m.content)  # the API refuses empty turns
    if count is None or not messages:
        return None
    return count(ChatRequest(model.id, messages, system=system))
