"""Every tool a model may be offered: the built-ins, the tools plugins register through the
`promptlab.tools` entry point (each a function `register_tools(register)` that calls
`register(tool)` for every lib.agents.Tool it adds), and the tools of MCP servers.

A hook may also register a source of tools that come and go while the process runs (an MCP
server's, lib.mcp): a function taking nothing and returning the tools it offers now, by
name. The hooks load once per process; a source is asked again each time."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from lib.agents.tools import Tool
from lib.core import ToolError, registered

log = logging.getLogger(__name__)

GROUP = "promptlab.tools"
# lib.mcp sits above this package: named here, loaded by name like a plugin.
BUILTIN = ("lib.agents.builtins", "lib.mcp.tools")

Source = Callable[[], dict[str, Tool]]


@functools.cache
def _table() -> tuple[dict[str, Tool], dict[str, str], tuple[Source, ...]]:
    """(tools by name, where each came from, sources of changing tools), built-ins first;
    loaded once per process. A plugin's tool may not take a name already taken."""
    tools: dict[str, Tool] = {}
    origins: dict[str, str] = {}
    sources: list[Source] = []
    for r in registered(GROUP, BUILTIN, "register_tools"):
        tool = r.thing
        if callable(tool) and not isinstance(tool, Tool):
            sources.append(tool)
            continue
        if not isinstance(tool, Tool):
            raise ToolError(f"Plugin {r.source!r} registered {tool!r}, not a tool (make one "
                            "with lib.agents.tool).")
        if tool.name in tools:
            raise ToolError(f"Two tools are named {tool.name!r}: uninstall one of the plugins.")
        tools[tool.name], origins[tool.name] = tool, r.source
    return tools, origins, tuple(sources)


def _current() -> tuple[dict[str, Tool], dict[str, str]]:
    fixed, fixed_origins, sources = _table()
    tools = {n: t for n, t in fixed.items() if t.policy != "never"}
    origins = {n: fixed_origins[n] for n in tools}
    for source in sources:
        for name, tool in source().items():
            if name in fixed:  # a fixed tool keeps its name; the newcomer is left out
                log.warning("tool %s (MCP server %s) is left out: the name is taken", name,
                            tool.server)
            elif tool.policy != "never":
                tools[name] = tool
                origins[name] = f"MCP server {tool.server}" if tool.server else "built-in"
    return tools, origins


def registered_tools() -> dict[str, Tool]:
    """Every tool by name, built-ins first, then plugins' and MCP servers' (grouped by
    server). Tools whose policy is "never" are not among them."""
    return _current()[0]


def tool_sources() -> dict[str, str]:
    """Where each tool came from: "built-in", the plugin's entry-point name, or
    "MCP server <name>"."""
    return _current()[1]


def forget_tools() -> None:
    """Load the tools again on next use (a plugin installed or removed: tests)."""
    _table.cache_clear()
