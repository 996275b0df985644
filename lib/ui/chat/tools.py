"""Tools in the chat: the sidebar section (built-ins to enable, tools defined by a JSON
Schema, tool choice, step limit) and each tool call drawn as a collapsible block."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import streamlit as st

from lib.agents import DEFAULT_STEPS, Tool, registered_tools, schema_tool, tool_sources
from lib.chat import group_label, step_parts
from lib.core import PromptLabError, format_cost
from lib.ui.chat.thinking import draw_thinking
from lib.ui.kit.text import Markdown, inert, md
from lib.ui.kit.widgets import show_error

CUSTOM = "chat_custom_tools"   # session: tools defined in the page
DEFINE = "chat_define_tool"    # the "Define a tool" popover is open
def tool_option(tool: Tool, source: str) -> str:
    """A built-in by its label; an MCP tool by its server and its own name; a plugin's tool by
    its name and its plugin; each says when it asks before it runs."""
    asks = ", asks first" if tool.policy == "ask" else ""
    if tool.server:
        own = tool.name.removeprefix(f"{tool.server}__")  # lib.mcp names it <server>__<tool>
        return f"{tool.server} · {own} (MCP{asks})"
    if source == "built-in":
        return LABELS.get(tool.name, tool.name) + (f" ({asks[2:]})" if asks else "")
    return f"{tool.name} (plugin {source}{asks})"


LABELS = {"search_knowledge_base": "Search the knowledge base", "calculator": "Calculator",
          "current_time": "Current date and time", "read_chunk": "Read a stored chunk"}
ENDS = {"paused": ":material/pause_circle: Paused at the step limit after {} steps: press "
                  "Go on to let it take more.",
        "cost_limit": ":material/savings: Stopped at the run's cost limit after {} steps.",
        "stopped": ":material/stop_circle: Stopped by you after {} steps; what ran is kept.",
        "refused": ":material/block: A budget refused step {}: the run ends here.",
        "error": ":material/warning: Step {} failed; the run ends here.",
        "awaiting": ":material/edit_note: Step {} called a tool defined here: type its result "
                    "below and send it, and the run goes on.",
        "approval": ":material/front_hand: Step {} called a tool that asks first: approve or "
                    "deny each call below, and the run goes on.",
        "no_answer": ":material/help: The model could not use the tools: after {} steps its "
                     "last reply was empty or a tool call written out as text, so there is no "
                     "answer. Small models often cannot; try Tool choice set to the tool, or a "
                     "larger model."}


@dataclass(frozen=True)
class ToolSettings:
    tools: tuple[Tool, ...]
    choice: str
    max_steps: int
    max_cost_usd: float | None = None


def tools_sidebar(kb_name: str | None) -> ToolSettings:
    """The sidebar's Tools section."""
    with st.sidebar.expander("Tools", icon=":material/build:"):
        offered = registered_tools()
        names = [n for n in offered if n not in ("search_knowledge_base", "read_chunk")
                 or kb_name]
        sources = tool_sources()
        # Options are drawn as plain text: no Markdown escaping.
        chosen = st.multiselect("Enabled tools", names,
                                format_func=lambda n: tool_option(offered[n],
                                                                 sources.get(n, "built-in")),
                                key="chat_tools", placeholder="No tools",
                                help="Knowledge-base tools need a knowledge base above. A "
                                   "tool that asks first pauses the run at each call until "
                                   "you approve or deny it.")
        custom: dict[str, Tool] = st.session_state.setdefault(CUSTOM, {})
        for name in list(custom):
            c1, c2 = st.columns([4, 1])
            c1.caption(md("`{}` ({})", name, "canned result" if custom[name].canned is not None
                          else "you type each result"))
            if c2.button("", icon=":material/close:", key=f"tool_rm_{name}",
                         help="Remove this tool"):
                custom.pop(name)
                st.rerun()
        define = st.popover("Define a tool", icon=":material/add:", width="stretch",
                            key=DEFINE, on_change="rerun")
        if define.open:  # drawn only while open, as the page reruns on every change
            with define:
                _define(custom)
        tools = tuple(offered[n] for n in chosen) + tuple(custom.values())
        choice = st.selectbox("Tool choice", ["auto", "required", "none",
                                              *[t.name for t in tools]],
                              key="chat_tool_choice", disabled=not tools,
                              help="auto: the model decides; required: it must call one "
                                   "(first step only); none: no tools; or one named tool.")
        steps = st.number_input("Step limit", 1, 100, DEFAULT_STEPS, key="chat_max_steps",
                                disabled=not tools,
                                help="Model calls per run before you are asked to go on.")
        cost = st.number_input("Cost limit per run (USD, 0 for none)", 0.0, 100.0, 0.0, 0.01,
                               format="%.2f", key="chat_max_cost", disabled=not tools,
                               help="The run stops once its steps have cost this much.")
    return ToolSettings(tools, choice if tools else "auto", int(steps), float(cost) or None)


def _define(custom: dict[str, Tool]) -> None:
    name = st.text_input("Name", key="tool_new_name", placeholder="get_weather")
    description = st.text_input("Description", key="tool_new_description",
                                placeholder="Today's weather in a city.")
    schema = st.text_area("Parameters (JSON Schema)", key="tool_new_schema",
                          value='{"type": "object", "properties": {"city": {"type": "string"}},'
                                ' "required": ["city"]}')
    canned = st.text_area("Result to give the model (leave empty to type it at each call)",
                          key="tool_new_result", placeholder="-3 °C and snowing")
    if st.button("Add tool", type="primary", key="tool_add"):
        try:  # the text itself: parsed with its nesting bounded, checked like every schema
            tool = schema_tool(name, description, schema, canned=canned or None)
        except PromptLabError as exc:
            show_error(exc)
            return
        custom[tool.name] = tool
        st.rerun()


def block_label(name: str, ms: float | None, error: bool, pending: bool = False,
                asks: bool = False) -> Markdown:
    if pending and asks:
        return md(":material/front_hand: `{}` waits for your approval", name)
    if pending:
        return md(":material/hourglass_empty: `{}` waits for your result", name)
    if ms is None:
        return md(":material/build: `{}` running…", name)
    return md(":material/{}: `{}` {} in {:,.0f} ms", "error" if error else "build", name,
              "failed" if error else "answered", ms)


def draw_call(arguments: dict[str, Any] | str, result: str | None, is_error: bool,
              sources: list[dict] | tuple = ()) -> None:
    """Inside a block: the arguments, then the result or error."""
    st.caption("Arguments")
    st.code(arguments if isinstance(arguments, str) else json.dumps(arguments, indent=2,
                                                                    ensure_ascii=False),
            language="json")
    if result is not None:
        draw_result(result, is_error)
    for s in sources:
        st.caption(md("{} · chunk {}", s["source"], (s.get("index") or 0) + 1))


def draw_result(result: str, is_error: bool) -> None:
    st.caption("Error" if is_error else "Result")
    st.code(result, language=None, wrap_lines=True)


def render_steps(meta: dict) -> None:
    """A stored run: each step's thinking, text and tool calls in the order the model wrote
    them (the last step's text is the reply's own)."""
    for step in meta.get("steps", ()):
        for kind, part in step_parts(step):
            if kind == "thinking":
                draw_thinking(part, group_label(step, part))
            elif kind == "text":
                st.markdown(inert(part))
            else:
                with st.expander(block_label(part["name"], part.get("ms", 0),
                                             part.get("is_error", False),
                                             part.get("pending", False),
                                             part.get("asks", False))):
                    draw_call(part.get("raw") if part.get("invalid") else
                              part.get("arguments", {}),
                              None if part.get("pending") else part.get("result"),
                              part.get("is_error", False), part.get("sources", ()))


def run_caption(meta: dict) -> Markdown:
    """A run's totals and how it ended (call only when the reply has steps)."""
    steps = meta.get("steps") or []
    calls = sum(len(s.get("calls", ())) for s in steps)
    line = md(":material/account_tree: {} step{} · {} tool call{} · {:,} in / {:,} out · {} · "
              "{:,.1f} s", len(steps), "s" if len(steps) != 1 else "", calls,
              "s" if calls != 1 else "", meta.get("input_tokens", 0),
              meta.get("output_tokens", 0),
              format_cost(int(meta.get("cost_micro", 0)), meta.get("unpriced", 0)),
              meta.get("total_ms", 0) / 1000)
    end = meta.get("run_end", "answered")
    if end == "awaiting" and any(c.get("asks") and c.get("pending") for s in steps
                                 for c in s.get("calls", ())):
        end = "approval"
    if end in ENDS:
        line = line + Markdown("  \n") + md(ENDS[end], len(steps))
    return line
