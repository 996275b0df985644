"""An agent run drawn as a tree: the run, its steps (each a model call with its tokens, cost
and timings), and under each step its thinking and the tool calls it made with their arguments
and results, in the order the model wrote them."""

from __future__ import annotations

import json

import streamlit as st

from lib.chat import RunTrace, group_label
from lib.core import format_cost
from lib.ui.chat.thinking import draw_thinking
from lib.ui.chat.tools import ENDS
from lib.ui.kit.text import Markdown, inert, md, plain


def run_option(run: dict) -> str:
    """A run in the picker (options are shown as plain text)."""
    cost = format_cost(int(run["cost_micro"]), run.get("unpriced") or 0)
    return (f"{run['started'][:19].replace('T', ' ')} · {run['model']} · {run['steps']} "
            f"step{'s' if run['steps'] != 1 else ''} · {cost}")


def draw(trace: RunTrace) -> None:
    records = [s.call for s in trace.steps]
    c = st.columns(5)
    c[0].metric("Steps", plain(len(trace.steps)))
    c[1].metric("Tool calls", plain(trace.tool_calls))
    c[2].metric("Tokens in / out", md("{:,} / {:,}", sum(r.input_tokens for r in records),
                                      sum(r.output_tokens for r in records)))
    c[3].metric("Cost", plain(format_cost(sum(r.cost_micro for r in records),
                                          sum(not r.priced for r in records))))
    c[4].metric("Model time", md("{:,.2f} s", sum(r.total_ms for r in records) / 1000))
    if trace.end in ENDS:
        st.caption(md(ENDS[trace.end], len(trace.steps)))
    if trace.conversation_id is not None:
        st.page_link("app_pages/chat.py", label="Open the conversation",
                     icon=":material/chat:", query_params={"c": str(trace.conversation_id)})
    for s in trace.steps:
        r = s.call
        with st.container(border=True):
            first = md(", first token {:,.0f} ms", r.ttft_ms) if r.ttft_ms is not None \
                else Markdown()
            st.markdown(md("**Step {}** · {} · {} · {:,} in / {:,} out · {} · {:,.0f} ms", r.step,
                           r.model, r.status, r.input_tokens, r.output_tokens,
                           format_cost(r.cost_micro, not r.priced), r.total_ms) + first)
            if r.error_message:
                st.caption(md(":material/warning: {}", r.error_message))
            for kind, part in s.parts():
                if kind == "thinking":
                    draw_thinking(part, group_label(s.stored, part))
                    continue
                if kind == "text":
                    st.markdown(inert(part))
                    continue
                call = part
                state = "failed" if call.get("is_error") else "answered"
                server = md(" · MCP server {}", call["server"]) if call.get("server") \
                    else Markdown()
                st.markdown(md("└ :material/build: `{}` {} in {:,.0f} ms", call["name"], state,
                               call.get("ms", 0)) + server)
                left, right = st.columns(2)
                left.code(call.get("raw") if call.get("invalid") else json.dumps(
                    call.get("arguments", {}), indent=2, ensure_ascii=False), language="json")
                right.code(call.get("result", ""), language=None, wrap_lines=True)
                if call.get("cut"):
                    right.caption(plain("The result was cut to fit."))
