"""What an agent run yields besides the model's own text and calls: its steps, tool
progress, a pause at the step limit, and how it ended."""

from __future__ import annotations

from dataclasses import dataclass, field

from lib.agents.tools import Outcome
from lib.core import PromptLabError
from lib.llm import Repair, TextDelta, Thinking, ThinkingDelta, ToolCall, Validation
from lib.spend import CallRecord


@dataclass
class Step:
    """One model call of a run (its ledger row), its text, and the tool calls it made."""
    number: int
    record: CallRecord
    text: str = ""
    ms: float = 0.0
    calls: list[tuple[ToolCall, Outcome]] = field(default_factory=list)
    validation: Validation | None = None   # an answer checked against the output schema

    @property
    def call_id(self) -> int | None:
        return self.record.id

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def input_tokens(self) -> int:
        return self.record.input_tokens

    @property
    def output_tokens(self) -> int:
        return self.record.output_tokens

    @property
    def cost_micro(self) -> int:
        return self.record.cost_micro


@dataclass(frozen=True)
class ToolStarted:
    step: int
    call: ToolCall


@dataclass(frozen=True)
class ToolFinished:
    step: int
    call: ToolCall
    outcome: Outcome


@dataclass(frozen=True)
class StepFinished:
    step: Step


@dataclass(frozen=True)
class RunPaused:
    """The step limit was reached with the model still calling tools: ask the user."""
    steps: int


@dataclass(frozen=True)
class RunFinished:
    reason: str            # answered, cost_limit, stopped, error, refused, awaiting
    error: PromptLabError | None = None


def stored_status(reason: str) -> str:
    """How a run that ended (or paused) for `reason` is stored: ok only when it answered."""
    return {"answered": "ok", "stopped": "cancelled"}.get(reason, "incomplete")


RunEvent = TextDelta | ThinkingDelta | Thinking | ToolCall | ToolStarted | ToolFinished | \
    StepFinished | RunPaused | RunFinished | Repair


