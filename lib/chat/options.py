"""What a chat turn is sent with: the page's settings for one turn."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from lib.llm import ModelInfo, Reasoning, Routed


@dataclass
class TurnOptions:
    system: str = ""
    temperature: float = 0.7
    max_tokens: int = 512
    page: str = "chat"
    prompt_name: str | None = None
    prompt_version: int | None = None
    knowledge_base: str | None = None   # ground each turn in this knowledge base
    top_k: int = 4
    tools: tuple[Any, ...] = ()         # lib.agents.Tool the model may call: an agent run
    tool_choice: str = "auto"
    max_steps: int = 8
    max_cost_usd: float | None = None
    output_schema: dict[str, Any] | None = None  # the reply must be JSON matching this
    fallbacks: tuple[ModelInfo, ...] = ()  # asked in turn if the model cannot answer
    route: str | None = None              # the router chose the model: why (lib.llm.route)
    baseline: ModelInfo | None = None     # routed: the top model, what routing saves against
    history: str = "window"               # or "summarise": what overflowing history becomes
    user: str | None = None               # signed in: owns a new conversation, pays the calls
    reasoning: Reasoning | None = None    # how the model thinks; None: its own default

    def routed(self, routed: Routed) -> TurnOptions:
        """These options for a turn the router chose the model of: the ledger records why,
        and what always using the top model would have cost."""
        return replace(self, route=routed.reason, baseline=routed.baseline)

