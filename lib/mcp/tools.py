"""MCP servers' tools as lib.agents Tools, offered beside the built-ins (lib.agents.registry
loads `register_tools` here as it loads a plugin's).

A tool is named `<server>__<tool>` (64 characters at most, letters, digits, _ and -), keeps
its server's description and schema (checked as any tool's, so arguments are validated
before the call), its server's annotations, and its policy from tools.toml. Calling it
calls the server (lib.mcp.servers); whatever goes wrong is a ToolError the model reads."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lib.agents import Tool
from lib.core import ConfigError, PromptLabError, ToolError, get_settings
from lib.llm import check_tool_parameters
from lib.mcp.config import ServerConfig, load_servers, tools_path
from lib.mcp.connection import STOP_S, ServerStatus
from lib.mcp.servers import manager

log = logging.getLogger(__name__)

SEP = "__"
MAX_NAME = 64


@dataclass(frozen=True)
class ServerTools:
    """A server's tools as offered (every policy, "never" too), and what was left out."""
    status: ServerStatus
    tools: tuple[Tool, ...]
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Remote:
    """A tool's body: the call to its server (a class, so no argument name can clash)."""
    server: str
    tool: str

    def __call__(self, **arguments: Any) -> str:
        reply = manager().call(self.server, self.tool, arguments)
        if reply.is_error:
            raise ToolError(reply.text or "The tool reported an error and said nothing more.")
        return reply.text


def tool_name(server: str, remote: str, taken: set[str]) -> str:
    """`<server>__<tool>`, with other characters as _; cut, with a hash of the tool's own
    name, when it is too long or already taken."""
    name = f"{server}{SEP}{re.sub(r'[^A-Za-z0-9_-]', '_', remote)}"
    if len(name) > MAX_NAME or name in taken:
        digest = hashlib.sha1(remote.encode()).hexdigest()[:8]
        name = f"{name[:MAX_NAME - 9]}_{digest}"
    return name


def server_tools(status: ServerStatus) -> ServerTools:
    cfg: ServerConfig = status.config
    tools: list[Tool] = []
    problems: list[str] = []
    taken: set[str] = set()
    for remote in status.tools:
        name = tool_name(cfg.name, remote.name, taken)
        try:
            parameters = check_tool_parameters(name, remote.parameters)
        except PromptLabError as exc:
            problems.append(f"{remote.name} is left out: {exc}")
            continue
        taken.add(name)
        description = remote.description.strip() or remote.title or remote.name
        tools.append(Tool(name, description, parameters, _Remote(cfg.name, remote.name),
                          timeout_s=cfg.start_timeout_s + cfg.call_timeout_s + 2 * STOP_S,
                          policy=cfg.policy(remote.name), server=cfg.name,
                          annotations=dict(remote.annotations)))
    listed = {r.name for r in status.tools}
    if status.tools:
        problems += [f"tools.toml sets a policy for {t}, which {cfg.name} does not list."
                     for t in cfg.policies if t not in listed]
    return ServerTools(status, tuple(tools), tuple(problems))


def configured(*, start: bool) -> list[ServerTools]:
    """Every server in the data directory's tools.toml with its tools. `start`: start the
    servers not started yet (and those that failed a while ago), and wait for them. Raises
    ConfigError when tools.toml is wrong."""
    servers = manager()
    servers.configure(load_servers(tools_path(get_settings())))
    statuses = servers.start_all() if start else servers.statuses()
    return [server_tools(s) for s in statuses]


def offered() -> dict[str, Tool]:
    """The MCP tools a model may be offered now, by name (the registry drops "never")."""
    try:
        found = configured(start=True)
    except ConfigError as exc:  # the Tools page shows it; a chat goes on without them
        log.warning("MCP servers are left out: %s", exc)
        return {}
    return {t.name: t for s in found for t in s.tools}


def register_tools(register: Callable[[Any], None]) -> None:
    """The registry's hook: MCP tools are a source asked each time, not a fixed list."""
    register(offered)
