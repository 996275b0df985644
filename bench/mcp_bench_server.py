"""The MCP server bench_mcp.py calls over stdio: the SDK's MCPServer exposing `word_count`,
the same function the bench also calls directly."""

from __future__ import annotations


def word_count(text: str) -> int:
    """Count the words in a text."""
    return len(text.split())


if __name__ == "__main__":
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("bench")
    server.tool()(word_count)
    server.run()
