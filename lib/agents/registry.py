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
def registered_tools() -> dict[str, Tool]:
    """Tools by name, built-ins first; a plugin's tool may not take a name already taken."""
    table: dict[str, Tool] = {}
    for r in registered(GROUP, BUILTIN, "register_tools"):
        tool = r.thing
        if not isinstance(tool, Tool):
            raise ToolError(f"Plugin {r.source!r} registered {tool!r}, not a tool (make one "
                            "with lib.agents.tool).")
        if tool.name in table:
            raise ToolError(f"Two tools are named {tool.name!r}: uninstall one of the plugins.")
        table[tool.name] = tool
    return table


def tool_sources() -> dict[str, str]:
    """Where each tool came from: "built-in" or the plugin's entry-point name."""
    return {r.thing.name: r.source for r in registered(GROUP, BUILTIN, "register_tools")
            if isinstance(r.thing, Tool)}
