"""The Tools page: the MCP servers of tools.toml (status, the end of their stderr, Start or
Restart) with their tools, then the built-in and plugin tools; each tool with its
description, schema, annotations and policy, and a form to call it once."""

from __future__ import annotations

import json

import streamlit as st

from lib import mcp
from lib.agents import Tool, registered_tools, run_tool, tool_sources
from lib.core import ConfigError, Settings, ToolError, json_loads
from lib.llm import ToolCall
from lib.ui.kit.text import Markdown, md, plain
from lib.ui.kit.widgets import show_error

STATES = {"ready": ":material/check_circle: ready", "starting": ":material/hourglass_top: "
          "starting", "stopping": ":material/hourglass_bottom: stopping",
          "failed": ":material/error: failed", "stopped": ":material/pause_circle: stopped"}
POLICY = {"run": "runs when called", "ask": "asks first", "never": "never offered"}
HINTS = {"readOnlyHint": "read-only", "destructiveHint": "destructive",
         "idempotentHint": "idempotent", "openWorldHint": "reaches outside"}


def intro(settings: Settings) -> None:
    st.caption(md("Every tool a model may call in Chat and Compare: MCP servers' tools (from "
                  "`{}`), and the built-in and plugin tools. A tool's policy says whether a "
                  "call runs at once, asks first, or is never offered.",
                  mcp.tools_path(settings)))


def servers(settings: Settings) -> None:
    """The configured MCP servers, started if they are not (their first use)."""
    st.subheader("MCP servers")
    try:
        with st.spinner("Starting MCP servers…"):
            found = mcp.configured(start=True)
    except ConfigError as exc:
        show_error(exc)
        return
    if not found:
        empty_state(settings)
    for server in found:
        draw_server(server, settings)


def empty_state(settings: Settings) -> None:
    st.info(md("No MCP servers are configured. Add them in `{}`: one `[[server]]` table each, "
               "a command the lab starts or the URL of a streamable HTTP server. The example "
               "below is `tools.example.toml` in the project folder; the page reads the file "
               "again when it changes.", mcp.tools_path(settings)),
            icon=":material/add_circle:")
    with st.expander("Example tools.toml", icon=":material/description:"):
        st.code(mcp.EXAMPLE.read_text(encoding="utf-8"), language="toml")


def draw_server(server: mcp.ServerTools, settings: Settings) -> None:
    status = server.status
    cfg = status.config
    with st.container(border=True):
        left, right = st.columns([5, 1], vertical_alignment="center")
        left.markdown(md("**{}** · {} · {} `{}`", cfg.name, Markdown(STATES[status.state]),
                         cfg.transport, cfg.where))
        again = status.state in ("ready", "failed")
        if right.button("Restart" if again else "Start", key=f"mcp_start_{cfg.name}",
                        icon=":material/restart_alt:" if again else ":material/play_arrow:",
                        disabled=status.state in ("starting", "stopping")):
            with st.spinner(md("Starting {}…", cfg.name)):
                mcp.manager().restart(cfg.name)
            st.rerun()
        trust = "trusted: its tools run when called" if cfg.trusted else \
            "not trusted: each call asks first"
        ready = md(" · started in {:,.1f} s", status.start_ms / 1000) \
            if status.state == "ready" and status.start_ms is not None else Markdown()
        st.caption(md("{} · {} tool{}", trust, len(server.tools),
                      "" if len(server.tools) == 1 else "s") + ready)
        if status.error:
            st.error(plain(status.error), icon=":material/error:")
        if status.stderr:
            with st.expander("The end of its stderr", icon=":material/terminal:"):
                st.code(status.stderr, language=None)
        for problem in server.problems:
            st.warning(plain(problem), icon=":material/warning:")
        for tool in server.tools:
            draw_tool(tool, settings)


def others(settings: Settings) -> None:
    """The built-in and plugin tools."""
    st.subheader("Built-in and plugin tools")
    sources = tool_sources()
    for name, tool in registered_tools().items():
        if not tool.server:
            draw_tool(tool, settings, sources.get(name, "built-in"))


def tool_label(tool: Tool, source: str = "") -> Markdown:
    hints = [label for key, label in HINTS.items() if tool.annotations.get(key)]
    return md("`{}` · {}{}", tool.name, POLICY.get(tool.policy, tool.policy),
              md(" · {}", ", ".join(hints)) if hints else Markdown()) + (
        md(" · {}", source) if source and source != "built-in" else Markdown())


def draw_tool(tool: Tool, settings: Settings, source: str = "") -> None:
    with st.expander(tool_label(tool, source)):
        st.markdown(plain(tool.description))
        st.caption("Parameters (JSON Schema)")
        st.json(tool.parameters, expanded=2)
        if tool.annotations:
            st.caption(md("The server's annotations (hints, not promises): {}",
                          json.dumps(tool.annotations, ensure_ascii=False)))
        if tool.fn is not None:
            test_form(tool, settings)


EMPTY = {"string": "", "integer": 0, "number": 0, "boolean": False, "array": [], "object": {}}


def skeleton(tool: Tool) -> str:
    """The required arguments with empty values of their types: a start to fill in."""
    properties = tool.parameters.get("properties", {})

    def empty(name: str) -> object:
        spec = properties.get(name)
        kind = spec.get("type") if isinstance(spec, dict) else None
        return EMPTY.get(kind) if isinstance(kind, str) else None

    return json.dumps({n: empty(n) for n in tool.parameters.get("required", ())},
                      ensure_ascii=False)


def test_form(tool: Tool, settings: Settings) -> None:
    """Call the tool once with arguments typed as JSON, checked against its schema first."""
    with st.form(f"tool_test_{tool.name}", border=False):
        text = st.text_area("Arguments (JSON)", value=skeleton(tool),
                            key=f"tool_args_{tool.name}", height=90)
        if not st.form_submit_button("Run this tool", icon=":material/play_arrow:",
                                     key=f"tool_run_{tool.name}"):
            return
    try:
        arguments = json_loads(text or "{}")
    except ValueError as exc:
        show_error(ToolError(f"The arguments are not JSON: {exc}."))
        return
    if not isinstance(arguments, dict):
        show_error(ToolError('The arguments must be a JSON object, like {"text": "hi"}.'))
        return
    with st.spinner(md("Calling {}…", tool.name)):
        outcome = run_tool(tool, ToolCall("test", tool.name, arguments, text), {
            "settings": settings, "kb": None})
    st.caption(md("{} in {:,.0f} ms{}", "Error" if outcome.is_error else "Result", outcome.ms,
                  " (cut to fit what a model is given)" if outcome.cut else ""))
    st.code(outcome.content, language=None, wrap_lines=True)
