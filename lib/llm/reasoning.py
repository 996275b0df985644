"""How a model is asked to reason, as the catalog says it may be: the setting a model starts
from, a setting fitted to the model a request goes to, and the thinking budget it reserves."""

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


def fitted_reasoning(model: ModelInfo, reasoning: Reasoning | None) -> Reasoning | None:
    """`reasoning` as `model` takes it. None (the model's own default) for a model that takes
    no setting, or not this mode (another model of a chain, a routed one); an effort it does
    not take is left out, and a budget is kept only for mode "on"."""
    if reasoning is None or not (model.thinking or model.efforts) or (
            model.thinking and reasoning.mode not in model.thinking):
        return None
    return Reasoning(reasoning.mode,
                     reasoning.effort if reasoning.effort in model.efforts else None,
                     reasoning.budget_tokens if reasoning.mode == "on" else None)


def thinking_budget(reasoning: Reasoning | None) -> int:
    """The tokens a request reserves for thinking beside its answer's (mode "on" only)."""
    if reasoning is None or reasoning.mode != "on":
        return 0
    return reasoning.budget_tokens or 0
