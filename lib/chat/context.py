"""Context planning: which history fits the model's window beside the system prompt, the
documents, a summary of earlier turns, the new message, the reserved output and any thinking
budget (a sliding window)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lib.core import ContextOverflowError
from lib.llm import ChatRequest, Counter, Message, ModelInfo, ToolResult, message_text


@dataclass(frozen=True)
class ContextPlan:
    """What one call will send, and how full it leaves the model's window."""

    messages: tuple[Message, ...]    # kept history plus the new message
    dropped: int                     # oldest history messages left out to fit
    system_tokens: int               # the system prompt's text
    documents_tokens: int            # retrieved chunks, sent with the system prompt
    history_tokens: int              # the kept history's text
    new_tokens: int                  # the new message's text
    framing_tokens: int              # roles, separators, the reply's priming: the rest
    reserved_output: int
    window: int
    input_tokens: int                # the whole request as the counter sees it: the sum
    exact: bool
    counter: str
    summary_tokens: int = 0          # the summary sent in place of earlier turns (0: none)
    reserved_thinking: int = 0       # the thinking budget (reasoning mode "on"), beside output

    @property
    def used(self) -> int:
        return self.input_tokens + self.reserved_output + self.reserved_thinking

    def bands(self) -> dict[str, int]:
        """Every part of the window, named; they add up to `used`."""
        return {"system": self.system_tokens, "documents": self.documents_tokens,
                "summary": self.summary_tokens, "history": self.history_tokens,
                "new message": self.new_tokens, "framing": self.framing_tokens,
                "reserved output": self.reserved_output,
                "reserved thinking": self.reserved_thinking}

    @property
    def fraction(self) -> float:
        return min(1.0, self.used / self.window) if self.window else 1.0


def alternate(messages: Sequence[Message]) -> list[Message]:
    """Merge neighbours with the same role (a failed turn leaves two user messages in a row)."""
    out: list[Message] = []
    for m in messages:
        if out and out[-1].role == m.role:
            text = "\n\n".join(t for t in (out[-1].content, m.content) if t)
            out[-1] = Message(m.role, text, out[-1].blocks + m.blocks)
        else:
            out.append(m)
    return out


def with_documents(system: str, documents: str) -> str:
    return f"{system}\n\n{documents}".strip() if documents else system


def plan_context(counter: Counter, model: ModelInfo, system: str, history: Sequence[Message],
                 new: str, max_output: int, documents: str = "",
                 summary: str = "", thinking: int = 0) -> ContextPlan:
    """Keep the newest turns that fit `window - max_output - thinking` (a sliding window;
    `thinking`: the thinking budget reserved beside the output).

    `documents` (retrieved chunks) travel with the system prompt and are counted apart.
    `summary` (earlier turns, condensed) opens the first user turn, ahead of the kept history;
    it is left out only if it cannot fit beside the system prompt and the new message.
    """
    overhead = counter.message_overhead()
    base_system, system = system, with_documents(system, documents)
    budget = model.context_window - max_output - thinking
    fixed = counter.count_request(ChatRequest(model.id, (Message("user", new),), system=system))
    if fixed > budget:
        raise ContextOverflowError(
            f"The system prompt{', documents' if documents else ''} and your message take "
            f"about {fixed:,} tokens; with "
            f"{max_output + thinking:,} reserved for the reply"
            f"{' and its thinking' if thinking else ''} that exceeds {model.label}'s "
            f"{model.context_window:,}-token window.",
            hint="Shorten the message or the system prompt, or lower max tokens"
                 f"{' or the thinking budget' if thinking else ''}.")
    costs = [counter.count(message_text(m)) + overhead for m in history]
    summary_tokens = counter.count(summary) if summary else 0
    if summary_tokens + overhead > budget - fixed:
        summary, summary_tokens = "", 0
    lead = [Message("user", summary)] if summary else []
    keep_from, room = len(history), budget - fixed - (summary_tokens + overhead if lead else 0)
    while keep_from > 0 and costs[keep_from - 1] <= room:
        room -= costs[keep_from - 1]
        keep_from -= 1

    def build(start: int) -> tuple[int, list[Message], int]:
        # Never start on an assistant message (providers expect the user to speak first),
        # nor on tool results whose calls were left out.
        while start < len(history) and (history[start].role != "user" or any(
                isinstance(b, ToolResult) for b in history[start].blocks)):
            start += 1
        msgs = alternate([*lead, *history[start:], Message("user", new)])
        return start, msgs, counter.count_request(ChatRequest(model.id, tuple(msgs), system))

    keep_from, msgs, total = build(keep_from)
    while total > budget and keep_from < len(history):  # per-message sums can undercount
        keep_from, msgs, total = build(keep_from + 1)
    if total > budget and lead:  # the summary alone was undercounted: send the turn without
        lead, summary_tokens = [], 0
        keep_from, msgs, total = build(keep_from)
    # The bands are the texts as counted alone; framing is what the request adds around
    # them (roles, separators, priming), so the parts add up to the whole request.
    system_tokens = counter.count(base_system) if base_system else 0
    documents_tokens = counter.count(system) - system_tokens if documents else 0
    # Counted before alternate() merges turns: the summary and the kept history share the
    # first user turn, and a failed turn's message may share the new one.
    history_tokens = sum(counter.count(message_text(m)) for m in history[keep_from:])
    new_tokens = counter.count(new)
    content = system_tokens + documents_tokens + summary_tokens + history_tokens + new_tokens
    return ContextPlan(
        messages=tuple(msgs), dropped=keep_from, system_tokens=system_tokens,
        documents_tokens=documents_tokens, history_tokens=history_tokens,
        new_tokens=new_tokens, framing_tokens=max(0, total - content),
        reserved_output=max_output, window=model.context_window,
        input_tokens=max(total, content), exact=counter.exact, counter=counter.name,
        summary_tokens=summary_tokens, reserved_thinking=thinking)
