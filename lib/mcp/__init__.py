"""MCP: the Model Context Protocol, both ways. MCP servers as tool sources (tools.toml in the
data directory: their connections, statuses and tools, offered beside the built-ins), and the
lab as an MCP server (stdio, or streamable HTTP behind the API's keys) over its stored
prompts, knowledge bases and agent traces. The SDK loads only when a server is used or runs."""

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
    from lib.mcp.serve import build_server, http_app, run_http, run_stdio, server_url
    from lib.mcp.serve_lab import PAGE, Caller
    from lib.mcp.servers import STATES, Servers, manager
    from lib.mcp.tools import ServerTools, configured, offered, server_tools, tool_name
else:
    __getattr__, __dir__, __all__ = lazy_face(__name__)
