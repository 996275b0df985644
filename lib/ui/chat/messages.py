"""Drawing a conversation: messages, reply footers (metrics, sources, context anatomy), the
context bar, and the provider's exact count on request."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

import streamlit as st

from lib.chat import SUMMARISE, Draft, Estimate, StoredMessage, Summary, provider_count
from lib.core import PromptLabError, format_cost
from lib.llm import capabilities, provider_label
from lib.ui.chat.actions import ERROR as BRANCH_ERROR
from lib.ui.chat.actions import message_actions
from lib.ui.chat.router import route_note, routed
from lib.ui.chat.summary import reply_note, summary_box
from lib.ui.chat.thinking import reasoning_note, reply_thinking
from lib.ui.chat.tools import render_steps, run_caption
from lib.ui.kit.links import call_md
from lib.ui.kit.resilience import fallback_note
from lib.ui.kit.structured_output import render_structured
from lib.ui.kit.text import Markdown, inert, join, md, plain

NOTICE = "chat_notice"


def metrics_line(meta: dict) -> Markdown:
    parts = [plain(meta.get("label") or meta.get("model", ""))]
    est = " (estimated)" if meta.get("estimated") else ""
    parts.append(md("{:,} in / {:,} out{}", meta.get("input_tokens", 0),
                    meta.get("output_tokens", 0), est))
    if (reasoning := reasoning_note(meta)) is not None:
        parts.append(reasoning)
    parts.append(plain(format_cost(int(meta.get("cost_micro", 0)), meta.get("unpriced", 0))))
    if meta.get("ttft_ms") is not None:
        parts.append(md("first token {:,.0f} ms", meta["ttft_ms"]))
    if meta.get("total_ms") is not None:
        parts.append(md("total {:,.2f} s", meta["total_ms"] / 1000))
    return join(" · ", (p for p in parts if p))


def render_message(conversation_id: int, message: StoredMessage,
                   asked: StoredMessage | None = None, *, last: bool = False,
                   enabled: bool = True) -> None:
    with st.chat_message(message.role):
        render_steps(message.meta)
        reply_thinking(message.meta)
        if message.meta.get("structured"):
            render_structured(message.meta, message.content, str(message.id))
        elif message.meta.get("empty"):
            st.caption(md(":material/speaker_notes_off: {} answered with no text.",
                          message.meta.get("label") or message.meta.get("model", "The model")))
        else:
            st.markdown(inert(message.content))
        if message.role == "assistant":
            render_reply_footer(message.status, message.meta, message.content, message.call_id)
        message_actions(conversation_id, message, asked, last=last, enabled=enabled)


def cited(text: str) -> set[int]:
    """The source numbers a reply cites as [1], [2], [1, 3] ..."""
    return {int(n) for group in re.findall(r"\[(\d+(?:\s*,\s*\d+)*)\]", text)
            for n in re.split(r"\s*,\s*", group)}


def render_sources(sources: list[dict], body: str) -> None:
    """Each retrieved chunk under the reply, expandable to its text, file and page."""
    used = cited(body)
    st.caption(md(":material/library_books: {} sources retrieved{}", len(sources),
                  md(", {} cited", len(used & {s["n"] for s in sources})) if used else ""))
    for src in sources:
        # Four chunks of one file must read apart: page, heading and chunk number.
        where = plain(src["source"]) + (md(", page {}", src["page"]) if src.get("page")
                                        else Markdown()) + (
            md(" — {}", src["heading"]) if src.get("heading") else Markdown()) + (
            md(" · chunk {}", src["index"] + 1) if src.get("index") is not None else Markdown())
        mark = " · cited" if src["n"] in used else ""
        with st.expander(md("\\[{}\\] {}{}", src["n"], where, mark)):
            st.markdown(inert(src["text"]))
            st.caption(md("chunk `{}`", src["chunk_id"]))


def render_reply_footer(status: str, meta: dict, body: str = "", call: int | None = None) -> None:
    if meta.get("steps"):
        pass  # a run says how it ended in its own caption
    elif status == "cancelled":
        st.caption(":material/stop_circle: Stopped by you; the partial reply is kept.")
    elif status == "incomplete":
        st.caption(md(":material/warning: The stream broke off; the partial reply is kept. {}",
                      meta.get("error") or ""))
    if meta.get("steps"):
        st.caption(run_caption(meta))
        if meta.get("run_id"):
            st.page_link("app_pages/traces.py", label="Trace of this run",
                         icon=":material/account_tree:", query_params={"run": meta["run_id"]})
    if meta.get("fallbacks"):
        st.caption(fallback_note(meta))
    if routed(meta):
        st.caption(route_note(meta))
    if meta.get("sources"):
        render_sources(meta["sources"], body)
    reply_note(meta)
    if meta.get("dropped"):
        n = meta["dropped"]
        st.caption(md(":material/content_cut: To fit the context window, the oldest {} "
                      "message{} (#1–#{}) were left out of this call.", n,
                      "s" if n != 1 else "", n))
    # The call's page as a link in the caption, not a page link of its own: one element
    # fewer per reply on every rerun (bench/bench_rerun.py); it opens in a new tab, as the
    # Costs page's call links do.
    st.caption(metrics_line(meta) + (md(" · {}", call_md(call)) if call is not None
                                     else Markdown()))


def render_history(conversation_id: int, history: list[StoredMessage],
                   leaving: Collection[int] = (), *, enabled: bool = True,
                   summary: Summary | None = None, summarising: bool = False) -> None:
    """The conversation; the messages in `leaving` do not fit into the next call however short
    it is (after those a `summary` covers: it is drawn, editable, where they end;
    `summarising`: they will be folded into it).
    `enabled`: whether edit and regenerate can send (the model is available)."""
    asked, through = None, summary.through_id if summary else 0
    for i, message in enumerate(history):
        render_message(conversation_id, message, asked, last=i == len(history) - 1,
                       enabled=enabled)
        asked = message if message.role == "user" else asked
        if summary is not None and message.id == through:
            summary_box(summary)
        elif message.id in leaving:
            st.caption(":material/summarize: This message no longer fits the context window: "
                       "it will be summarised before the next call." if summarising else
                       ":material/content_cut: This message no longer fits the context window: "
                       "it will be left out of the next call.")


def render_draft(draft: Draft, *, enabled: bool) -> None:
    """The conversation as the next turn sees it: its messages (what a resend replaces is not
    drawn), the summary, what no longer fits, the context bar and the tools, schema and
    knowledge base in use. `enabled`: the model is available (resends can be sent)."""
    summarising = draft.options.history == SUMMARISE
    estimate = draft.estimate
    if draft.conversation is not None:
        render_history(draft.conversation.id, draft.history,
                       estimate.left_out if estimate else (), enabled=enabled,
                       summary=draft.summary, summarising=summarising)
    if draft.problem is not None and enabled:
        st.error(plain(draft.problem), icon=":material/error:")
    if estimate is not None and enabled:
        context_bar(estimate, summarising=summarising)
        exact_count(draft)
    o = draft.options
    if o.tools or o.output_schema is not None or o.knowledge_base:
        st.caption(active_line(o.tools, o.output_schema, o.knowledge_base))


def active_line(tools: tuple[Any, ...], schema: dict | None, kb: str | None) -> Markdown:
    """Beside the input: the tools, output schema and knowledge base this conversation uses."""
    parts = []
    if kb:
        parts.append(md(":material/library_books: Grounded in **{}**", kb))
    if tools:
        parts.append(md(":material/build: Tools: {}", join(", ", (
            md("`{}`", t.name) for t in tools))))
    if schema is not None:
        title = schema.get("title") if isinstance(schema.get("title"), str) else ""
        parts.append(md(":material/data_object: Replies are JSON matching the output schema{}",
                        md(" “{}”", title) if title else plain("")))
    return join("  ·  ", parts)  # empty: none of them


def context_bar(estimate: Estimate, *, summarising: bool = False) -> None:
    """How full the model's window is with the history as it is, every band named (they add
    up to the total), and how long the next message may be before older turns go.

    Before a grounded turn its documents are unknown: the last turn's share stands in.
    """
    plan, expected_documents = estimate.plan, estimate.expected_documents
    kind = "" if plan.exact else " (estimated)"
    used = estimate.used
    fraction = min(1.0, used / plan.window)
    parts = []
    for band, tokens in plan.bands().items():
        if band == "documents":
            tokens += expected_documents
        if band == "new message":
            continue
        if tokens or band in ("system", "history"):
            parts.append(md("{} {:,}", band, tokens))
    dropped = (md("; {} oldest message{} left out", len(estimate.left_out),
                  "s are" if len(estimate.left_out) != 1 else " is")
               if estimate.left_out and not summarising else Markdown())
    st.progress(fraction, text=md("Context{}: {:,} of {:,} tokens ({:.0%}) = {}", kind, used,
                                  plan.window, fraction, join(" + ", parts)) + dropped)
    goes = "are summarised" if summarising else "are left out"
    st.caption(md(":material/edit_note: Your next message has room for about {:,} tokens{}; "
                  "past that, the oldest messages still sent {}.", estimate.room,
                  " (with the documents retrieved last time)" if expected_documents else "",
                  goes) if plan.history_tokens else
               md(":material/edit_note: Your next message has room for about {:,} tokens.",
                  estimate.room))


def exact_count(draft: Draft) -> None:
    """For estimated counts, the provider's exact figure, fetched only when asked for."""
    estimate, model = draft.estimate, draft.model
    if estimate is None or estimate.plan.exact or not draft.messages \
            or not capabilities(model.provider).counts_tokens:
        return
    label = provider_label(model.provider)
    if st.button(md("Ask {} for the exact count", label), key="exact_count",
                 icon=":material/calculate:"):
        try:
            exact = provider_count(draft.settings, model, draft.messages, draft.options.system)
        except PromptLabError as exc:
            st.error(plain(exc))
        else:
            st.caption(md("{} counts {:,} input tokens for this conversation so far "
                          "(estimated {:,}).", label, exact, estimate.plan.input_tokens))


def show_notice() -> None:
    """An error left by the previous run (the page reruns after every turn, and a branch
    switch runs before it)."""
    for key in (NOTICE, BRANCH_ERROR):
        if (notice := st.session_state.pop(key, None)) is not None:
            st.error(plain(notice), icon=":material/error:")
