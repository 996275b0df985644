"""One model call in detail: the exact request sent (system, messages, tools, tool choice,
output schema, parameters), the raw reply (text, tool calls, stop reason), usage, cost,
timings and error. What a model or a person wrote is drawn as code (never as Markdown)."""

from __future__ import annotations

import json
import re
from typing import Any

import streamlit as st

from lib.core import format_cost
from lib.spend import CallDetail, CallRecord
from lib.ui.kit.links import call_link
from lib.ui.kit.text import Markdown, join, md, plain

# A ledger row's id: ASCII digits within a 64-bit integer (str.isdigit() would take "²").
_ID = re.compile(r"[1-9][0-9]{0,17}")


def requested_id() -> tuple[str | None, int | None]:
    """(what ?id= said, the call id it names): (None, None) when the URL names none;
    (text, None) when it names nothing that could exist (repeated, not a number)."""
    values = [v for v in st.query_params.get_all("id") if v.strip()]
    if not values:
        return None, None
    raw = values[-1]
    if len(set(values)) > 1 or not _ID.fullmatch(raw.strip()):
        return raw, None
    return raw, int(raw)


def open_form() -> None:
    """Open a call by its number (what the Costs page and the log call it)."""
    with st.form("call_open", border=False):
        number = st.number_input("Call number", min_value=1, step=1, value=None,
                                 key="call_open_id")
        if st.form_submit_button("Open", icon=":material/search:") and number:
            st.query_params["id"] = str(int(number))
            st.rerun()


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} ms"


def draw(detail: CallDetail) -> None:
    r = detail.record
    st.caption(md("{} UTC · {} · {} · page {} · {} attempt{}", r.ts[:19].replace("T", " "),
                  r.provider, r.model, r.page, r.attempts, "" if r.attempts == 1 else "s")
               + _made_by(r, detail.api_key_name))
    _status(r)
    cols = st.columns(5)
    cols[0].metric("Tokens in / out", md("{:,} / {:,}", r.input_tokens, r.output_tokens),
                   help="Counted by us: the provider sent no usage." if r.usage_estimated
                   else None)
    cols[1].metric("Cache read / write", md("{:,} / {:,}", r.cache_read_tokens,
                                            r.cache_write_tokens))
    cols[2].metric("Cost", plain(format_cost(r.cost_micro, not r.priced)))
    cols[3].metric("First token", plain(_ms(r.ttft_ms)))
    cols[4].metric("Total", plain(_ms(r.total_ms)))
    _related(r)
    if detail.request is None or detail.reply is None:
        st.info("This call's request and reply were not stored: it is a batch result (the "
                "provider's batch holds them), or it was made before calls kept them.",
                icon=":material/info:")
        return
    if detail.truncated:
        st.warning("This call was too large to keep whole: long texts and lists are cut "
                   "short below, each cut marked with how much went.",
                   icon=":material/content_cut:")
    st.download_button("Download as JSON", _as_json(detail), file_name=f"call-{r.id}.json",
                       mime="application/json", icon=":material/download:",
                       key="call_json", on_click="ignore")
    st.subheader("Request")
    request(detail.request)
    st.subheader("Reply")
    reply(detail.reply)


def _made_by(r: CallRecord, key_name: str | None) -> Markdown:
    parts = []
    if r.user_id:
        parts.append(md("by {}", r.user_id))
    if r.api_key_id is not None:
        parts.append(md("API key {}", key_name or f"#{r.api_key_id}"))
    return md(" · {}", join(" · ", parts)) if parts else Markdown()


def _status(r: CallRecord) -> None:
    if r.status == "ok":
        extra = md(" · structured output {}", r.structured) if r.structured else Markdown()
        st.markdown(md(":green-badge[:material/check_circle: ok]{}", extra))
        return
    words = {"error": "failed", "incomplete": "broke off: the partial reply is kept",
             "cancelled": "stopped"}.get(r.status, r.status)
    text = md("The call {}", words) + (md(" ({}): {}", r.error_kind, r.error_message or "")
                                       if r.error_kind else Markdown())
    if r.status == "error":
        st.error(text, icon=":material/error:")
    else:
        st.warning(text, icon=":material/warning:")


def _related(r: CallRecord) -> None:
    """Where the call belongs: its conversation, agent run, prompt, and the call before it."""
    if r.prompt_name:
        st.caption(md("Prompt **{}** v{}", r.prompt_name, r.prompt_version or "?"))
    if r.route:
        st.caption(md(":material/alt_route: {}", r.route))
    links = st.container(horizontal=True)
    with links:
        if r.conversation_id is not None:
            st.page_link("app_pages/chat.py", label="Conversation", icon=":material/chat:",
                         query_params={"c": str(r.conversation_id)})
        if r.run_id:
            st.page_link("app_pages/traces.py", label=md("Agent run, step {}", r.step or 1),
                         icon=":material/account_tree:", query_params={"run": r.run_id})
        if r.repair_of is not None:
            call_link(r.repair_of, md("Repairs call {}", r.repair_of))
        if r.fallback_of is not None:
            call_link(r.fallback_of, md("Fell back from call {}", r.fallback_of))


def _code(value: Any, language: str | None = None) -> None:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    st.code(text or " ", language=language, wrap_lines=True)


def _as_json(detail: CallDetail) -> str:
    from dataclasses import asdict

    return json.dumps({"call": asdict(detail.record), "request": detail.request,
                       "reply": detail.reply, "truncated": detail.truncated},
                      indent=2, ensure_ascii=False)


PARAMETERS = (("model", "Model id"), ("temperature", "Temperature"),
              ("max_tokens", "Max output tokens"), ("tool_choice", "Tool choice"),
              ("schema_name", "Output schema name"), ("cache_system", "Cache the system prompt"))


def request(req: dict[str, Any]) -> None:
    rows = [Markdown("| Parameter | Value |"), Markdown("|---|---|")]
    rows += [md("| {} | {} |", label, _value(req.get(key))) for key, label in PARAMETERS
             if key in req and req[key] is not None]
    st.markdown(join("\n", rows))
    _text_or(Markdown("**System**"), req.get("system"), Markdown("(no system prompt)"))
    messages = req.get("messages") or []
    st.markdown(md("**Messages** ({})", len(messages)))
    for i, message in enumerate(messages, 1):
        if not isinstance(message, dict):  # a cut mark standing for the messages left out
            st.caption(plain(message))
            continue
        st.caption(md("{} · {}", i, message.get("role", "")))
        if message.get("content") or not message.get("blocks"):
            _code(message.get("content", ""))
        for block in message.get("blocks") or ():
            _block(block)
    if req.get("tools"):
        st.markdown(md("**Tools** ({})", len(req["tools"])))
        for tool in req["tools"]:
            if not isinstance(tool, dict):
                st.caption(plain(tool))
                continue
            st.caption(md("{} — {}", tool.get("name", ""), tool.get("description", "")))
            _code(tool.get("parameters", {}), "json")
    if req.get("output_schema") is not None:
        st.markdown("**Output schema**")
        _code(req["output_schema"], "json")


def _text_or(heading: Markdown, text: Any, missing: Markdown) -> None:
    """A heading, then the text as sent or got, or a note that there was none."""
    st.markdown(heading)
    if text:
        _code(text)
    else:
        st.caption(missing)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _block(block: Any) -> None:
    if not isinstance(block, dict):
        st.caption(plain(block))
    elif block.get("type") == "tool_use":
        st.caption(md(":material/build: tool call {} · id {}", block.get("name", ""),
                      block.get("id", "")))
        _code(block.get("arguments", {}), "json")
    else:
        st.caption(md(":material/output: tool result for {}{}", block.get("call_id", ""),
                      " (an error)" if block.get("is_error") else ""))
        _code(block.get("content", ""))


def reply(rep: dict[str, Any]) -> None:
    st.caption(md("Stop reason: {}", rep.get("stop_reason") or "none (the call did not "
                                                                "finish)"))
    _text_or(Markdown("**Text**"), rep.get("text"), Markdown("(no text)"))
    calls = rep.get("tool_calls") or []
    if calls:
        st.markdown(md("**Tool calls** ({})", len(calls)))
    for c in calls:
        if not isinstance(c, dict):
            st.caption(plain(c))
            continue
        st.caption(md(":material/build: {} · id {}", c.get("name", ""), c.get("id", "")))
        _code(c.get("raw") or c.get("arguments", {}), "json")
        if c.get("invalid"):
            st.caption(md(":material/warning: Unusable arguments: {}", c["invalid"]))
