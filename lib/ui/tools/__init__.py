"""The Tools page: MCP servers and their tools, the built-in and plugin tools, a test form."""
