"""Agents: tools the model may call (Python functions with schemas from their type hints,
or schemas defined in a page), the built-in ones, and the bounded agent loop."""

from typing import TYPE_CHECKING

from lib.core import lazy_face

if TYPE_CHECKING:  # the face (lazy_face reads it: each module loads on first use)
    from lib.agents.arithmetic import calculate, evaluate
    from lib.agents.builtins import BUILTINS
    from lib.agents.events import (
        RunEvent,
        RunFinished,
        RunPaused,
        Step,
        StepFinished,
        ToolFinished,
        ToolStarted,
        stored_status,
    )
    from lib.agents.loop import DEFAULT_STEPS, AgentRun, Limits
    from lib.agents.registry import forget_tools, registered_tools, tool_sources
    from lib.agents.tools import (
        POLICIES,
        RESULT_TOKENS,
        Approval,
        Cited,
        Outcome,
        Tool,
        cap,
        denial,
        run_tool,
        schema_tool,
        tool,
    )
else:
    __getattr__, __dir__, __all__ = lazy_face(__name__)
