"""How a model is asked to reason, as the catalog says it may be: the mode it is offered
first, and the thinking budget a request to it reserves. (The call seam fits a setting to the
model a request goes to.)"""

from __future__ import annotations

from lib.llm.modelinfo import ModelInfo
from lib.llm.protocol import REASONING_MODES, Reasoning, ReasoningMode


def default_mode(model: ModelInfo) -> ReasoningMode:
    """The mode a model is offered first: adaptive where it takes it, else off (a model whose
    thinking is switched on by hand), else the one it takes."""
    preferred: tuple[ReasoningMode, ...] = ("adaptive", "off", *REASONING_MODES)
    return next((m for m in preferred if m in model.thinking), "adaptive")


def reasoning_mode(value: object) -> ReasoningMode | None:
    """`value` as a mode (a widget's, a kept setting's), or None if it is none of them."""
    return next((m for m in REASONING_MODES if m == value), None)


def thinking_budget(model: ModelInfo, reasoning: Reasoning | None) -> int:
    """The tokens a request to `model` reserves for thinking beside its answer's: the budget
    of mode "on", where the model takes that mode (else it is not sent that way)."""
    if reasoning is None or reasoning.mode != "on" or "on" not in model.thinking:
        return 0
    return reasoning.budget_tokens or 0
