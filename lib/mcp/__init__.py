"""MCP: the lab as an MCP server (stdio, or streamable HTTP behind the API's keys) over its
stored prompts, knowledge bases and agent traces. The SDK loads only when a server runs."""

from typing import TYPE_CHECKING

from lib.core import lazy_face

if TYPE_CHECKING:  # the face (lazy_face reads it: each module loads on first use)
    from lib.mcp.serve import build_server, http_app, run_http, run_stdio, server_url
    from lib.mcp.serve_lab import PAGE, Caller
else:
    __getattr__, __dir__, __all__ = lazy_face(__name__)
