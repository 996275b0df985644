"""Agents: tools the model may call (Python functions with schemas from their type hints,
or schemas defined in a page), the built-in ones, and the bounded agent loop."""

from lib.core import lazy_face

__getattr__, __dir__, __all__ = lazy_face(__name__, {
    "lib.agents.tools": (
        "RESULT_TOKENS", "Cited", "Outcome", "Tool", "cap", "run_tool", "schema_tool", "tool"
    ),
    "lib.agents.arithmetic": ("calculate", "evaluate"),
    "lib.agents.builtins": ("BUILTINS",),
    "lib.agents.registry": ("forget_tools", "registered_tools", "tool_sources"),
    "lib.agents.events": (
        "RunEvent", "RunFinished", "RunPaused", "Step", "StepFinished", "ToolFinished",
        "ToolStarted", "stored_status"
    ),
    "lib.agents.loop": ("DEFAULT_STEPS", "AgentRun", "Limits"),
})
