"""Every tool a model may be offered: the built-ins and the tools plugins register through
the `promptlab.tools` entry point (each a function `register_tools(register)` that calls
`register(tool)` for every lib.agents.Tool it adds), loaded once per process."""

from __future__ import annotations

import functools

from lib.agents.tools import Tool
from lib.core import ToolError, registered

GROUP = "promptlab.tools"
BUILTIN = ("lib.agents.builtins",)


@functools.cache
def _table() -> tuple[dict[str, Tool], dict[str, str]]:
    """(tools by name, where each came from), built-ins first; loaded once per process. A
    plugin's tool may not take a name already taken."""
    tools: dict[str, Tool] = {}
    sources: dict[str, str] = {}
    for r in registered(GROUP, BUILTIN, "register_tools"):
        tool = r.thing
        if not isinstance(tool, Tool):
            raise ToolError(f"Plugin {r.source!r} registered {tool!r}, not a tool (make one "
                            "with lib.agents.tool).")
        if tool.name in tools:
            raise ToolError(f"Two tools are named {tool.name!r}: uninstall one of the plugins.")
        tools[tool.name], sources[tool.name] = tool, r.source
    return tools, sources


def registered_tools() -> dict[str, Tool]:
    """Every tool by name, built-ins first."""
    return _table()[0]


def tool_sources() -> dict[str, str]:
    """Where each tool came from: "built-in" or the plugin's entry-point name."""
    return _table()[1]


def forget_tools() -> None:
    """Load the tools again on next use (a plugin installed or removed: tests)."""
    _table.cache_clear()
