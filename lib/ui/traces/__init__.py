"""The Traces page: an agent run as a tree of steps and tool calls."""
