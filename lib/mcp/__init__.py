"""MCP: the Model Context Protocol. MCP servers as tool sources (tools.toml in the data
directory: their connections, statuses and tools, offered beside the built-ins)."""

from typing import TYPE_CHECKING

from lib.core import lazy_face

if TYPE_CHECKING:  # the face (lazy_face reads it: each module loads on first use)
    from lib.mcp.config import (
        EXAMPLE,
        FILE,
        ServerConfig,
        expand_variables,
        load_servers,
        parse_servers,
        tools_path,
    )
    from lib.mcp.connection import ServerStatus
    from lib.mcp.protocol import RemoteTool, Reply
    from lib.mcp.servers import STATES, Servers, manager
    from lib.mcp.tools import ServerTools, configured, offered, server_tools, tool_name
else:
    __getattr__, __dir__, __all__ = lazy_face(__name__)
