"""A reply's thinking as the chat keeps it: each block the model wrote (its text, its
signature or redacted data, the model that wrote it) in order among the reply's tool calls,
and how long the model thought; and the blocks back as the model is sent them again.

Blocks are stored as they came: Anthropic wants them back unchanged in a tool-use turn, and
drops those another model wrote (so each names its model)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from lib.agents import StepFinished
from lib.llm import Repair, Thinking, ThinkingDelta, ToolCall

E = TypeVar("E")


def block_meta(block: Thinking, model: str, at: int = 0, ms: float = 0.0) -> dict[str, Any]:
    """A block as plain data for a message's meta: `model` stands in where the provider named
    none; `at`: the tool calls of its step made before it; `ms`: how long it streamed."""
    return {"text": block.text, "signature": block.signature, "data": block.data,
            "model": block.model or model, "at": at, "ms": round(ms, 1)}


def as_block(stored: dict[str, Any]) -> Thinking:
    """A stored block as it is sent back, byte for byte."""
    return Thinking(str(stored.get("text", "")), str(stored.get("signature", "")),
                    str(stored.get("data", "")), str(stored.get("model", "")))


class Thoughts:
    """Watches a reply's events (one call's, or an agent run's steps) for its thinking."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.first: float | None = None     # the first and last pieces of thinking streamed
        self.last: float | None = None
        self.steps: dict[int, list[tuple[Thinking, int, float]]] = {}  # a run's, by step
        self._blocks: list[tuple[Thinking, int, float]] = []  # this call's so far
        self._calls = 0                     # tool calls this call has made so far
        self._began: float | None = None    # when the block streaming now began

    def watch(self, events: Iterable[E]) -> Iterator[E]:
        for event in events:
            self.see(event)
            yield event

    def see(self, event: object) -> None:
        if isinstance(event, ThinkingDelta):
            now = self._clock()
            self.first = now if self.first is None else self.first
            self.last = now
            self._began = now if self._began is None else self._began
        elif isinstance(event, Thinking):
            now = self._clock()
            began = now if self._began is None else self._began
            self._blocks.append((event, self._calls, (now - began) * 1000))
            self._began = None
        elif isinstance(event, ToolCall):
            self._calls += 1
        elif isinstance(event, StepFinished):  # an agent run's step: its blocks are its own
            self.steps[event.step.number] = self._blocks
            self._blocks, self._calls = [], 0
        elif isinstance(event, Repair):  # asked again: the dropped reply's thinking goes too
            self._blocks = []

    @property
    def ms(self) -> float:
        """From the first piece of thinking to the last (0: it thought in one piece, or not)."""
        if self.first is None or self.last is None:
            return 0.0
        return (self.last - self.first) * 1000

    def blocks(self, model: str, step: int | None = None) -> list[dict[str, Any]]:
        """The reply's blocks (or one step's) as stored; `model`: the model that answered."""
        kept = self._blocks if step is None else self.steps.get(step, [])
        return [block_meta(b, model, at, ms) for b, at, ms in kept]


def thought_label(ms: float, tokens: int | None = None) -> str:
    """"Thought for 12 s · 1,840 tokens": how long it thought and, where given (`tokens` None:
    not said here), its reasoning tokens or that the provider reported none."""
    took = "under 1 s" if ms < 500 else f"{ms / 1000:,.0f} s"
    if tokens is None:
        return f"Thought for {took}"
    return f"Thought for {took} · " + (f"{tokens:,} tokens" if tokens else
                                       "tokens not reported")



def step_parts(step: dict[str, Any], *, answer: bool = False) -> Iterator[tuple[str, Any]]:
    """A stored run step in the order the model wrote it: ("thinking", its blocks), ("text",
    the text), ("call", a tool call). A step without calls is the answer: its text is the
    reply's own, so only its thinking comes here (unless `answer`)."""
    thought: dict[int, list[dict[str, Any]]] = {}
    calls = step.get("calls", ())
    for block in step.get("thinking", ()):  # by the tool call it came before
        thought.setdefault(min(int(block.get("at", 0)), len(calls)), []).append(block)
    for i in range(len(calls) + 1):
        if i in thought:
            yield "thinking", thought[i]
        if i == 0 and (calls or answer) and step.get("text"):
            yield "text", step["text"]
        if i < len(calls):
            yield "call", calls[i]


def group_label(step: dict[str, Any], blocks: list[dict[str, Any]]) -> str:
    """A step's group of thinking: its time, and the step's reasoning tokens when the step
    thought once (the run's caption says its total)."""
    once = sum(kind == "thinking" for kind, _ in step_parts(step)) == 1
    return thought_label(sum(b.get("ms", 0) for b in blocks),
                         int(step.get("reasoning_tokens", 0)) if once else None)


def reply_label(meta: dict[str, Any]) -> str:
    """A reply's thinking (not a run's): from its first piece to its last, and its tokens."""
    return thought_label(meta.get("thinking_ms", 0), int(meta.get("reasoning_tokens", 0)))
