"""What a person does with a message once it is there: copy a reply, regenerate the last one,
edit a sent message and resend it, let a paused agent run go on, switch between the branches
a regenerate or an edit made ("‹ 2/2 ›"). A resend starts a branch beside the message it
replaces, which stays reachable; the ledger keeps every call."""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Literal

import streamlit as st

from lib import chat
from lib.chat import StoredMessage
from lib.core import PromptLabError
from lib.ui.chat.anatomy import anatomy_html
from lib.ui.kit import app
from lib.ui.kit.text import Markdown, md, plain

RESEND = "chat_resend"


@dataclass(frozen=True)
class Resend:
    """A message to send on the next run: a branch beside `replace_from` (an edit; with
    `again`, a regenerate of the user's message `replace_from`), a run that goes on, or a
    turn whose summarising was stopped (`skip_summary` says why)."""

    conversation_id: int | None
    text: str
    replace_from: int | None
    continue_from: int | None = None  # "Go on": a paused agent run, no new message
    typed: dict[str, str] | None = None  # results the user typed for calls the run awaits
    again: bool = False               # regenerate: no new message of the user's
    skip_summary: str = ""            # send with the sliding window, saying why


def pending(conversation_id: int | None) -> Resend | None:
    """The resend a button asked for on the previous run, if it is for this conversation."""
    resend = st.session_state.pop(RESEND, None)
    return resend if resend and resend.conversation_id == conversation_id else None


def _queue(conversation_id: int, text: str, replace_from: int, again: bool = False) -> None:
    if text.strip():
        st.session_state[RESEND] = Resend(conversation_id, text, replace_from, again=again)


def ask(resend: Resend | None, text: str | None) -> chat.Ask:
    """What this run sends: a resend a button asked for, else what was typed (nothing: the
    page only drafts)."""
    if resend is None:
        return chat.Ask(text or "")
    return chat.Ask(resend.text, resend.replace_from, resend.again, resend.continue_from,
                    resend.typed, resend.skip_summary)


def requeue(resend: Resend) -> None:
    """Send this on the next run (a turn the page had to give up midway)."""
    st.session_state[RESEND] = resend


def forget_requeue() -> None:
    """The turn went ahead after all: nothing to send on the next run."""
    st.session_state.pop(RESEND, None)


def _switch(conversation_id: int, message_id: int) -> None:
    try:
        chat.choose_branch(app.settings().db, conversation_id, message_id)
    except PromptLabError as exc:
        st.session_state[ERROR] = str(exc)


ERROR = "chat_branch_error"


def branch_switch(conversation_id: int, message: StoredMessage) -> None:
    """‹ 2/3 ›: the other replies to the same message (or the other versions of an edited
    one); choosing one shows its branch, which later turns follow."""
    ids = message.branches
    if len(ids) < 2:
        return
    at = ids.index(message.id)
    st.button("", icon=":material/chevron_left:", type="tertiary",
              key=f"branch_prev_{message.id}", disabled=at == 0, on_click=_switch,
              args=(conversation_id, ids[at - 1]), help="The previous version")
    st.caption(md("{}/{}", at + 1, len(ids)))
    st.button("", icon=":material/chevron_right:", type="tertiary",
              key=f"branch_next_{message.id}", disabled=at == len(ids) - 1,
              on_click=_switch, args=(conversation_id, ids[min(at + 1, len(ids) - 1)]),
              help="The next version")


def _go_on(conversation_id: int, message_id: int) -> None:
    st.session_state[RESEND] = Resend(conversation_id, "", None, message_id)


def _decisions(message_id: int, call_ids: list[str]) -> dict[str, str]:
    return {c: st.session_state[f"decide_{message_id}_{c}"] for c in call_ids
            if f"decide_{message_id}_{c}" in st.session_state}


def _send_results(conversation_id: int, message_id: int, call_ids: list[str],
                  asking: list[str]) -> None:
    typed = {c: st.session_state.get(f"typed_{message_id}_{c}", "") for c in call_ids}
    st.session_state[RESEND] = Resend(conversation_id, "", None, message_id,
                                      typed | _decisions(message_id, asking))


def _decide(conversation_id: int, message_id: int, call_id: str, decision: str,
            asking: list[str], typed: bool) -> None:
    """One call decided; once every call is (and none waits for a typed result), the run
    goes on."""
    st.session_state[f"decide_{message_id}_{call_id}"] = decision
    decided = _decisions(message_id, asking)
    if len(decided) == len(asking) and not typed:
        st.session_state[RESEND] = Resend(conversation_id, "", None, message_id, decided)


BUTTONS: tuple[tuple[str, str, str, Literal["primary", "secondary", "tertiary"]], ...] = (
    ("approve", "Approve", ":material/check:", "primary"),
    ("deny", "Deny", ":material/block:", "secondary"),
    ("conversation", "Approve for this conversation", ":material/done_all:", "tertiary"))
DECIDED = {"approve": "approved", "deny": "denied", "conversation": "approved for this "
           "conversation"}


def approval_request(conversation_id: int, message_id: int, call: dict[str, Any],
                     asking: list[str], typed: bool, *, enabled: bool) -> None:
    """A call that asks first: its tool, server, arguments and the server's hints, with
    Approve, Deny and Approve for this conversation."""
    cid, name, server = call["id"], call["name"], call.get("server", "")
    with st.container(border=True):
        hints = call.get("annotations") or {}
        with st.container(horizontal=True, gap="small", vertical_alignment="center"):
            st.markdown(md(":material/front_hand: `{}` asks before it runs", name) +
                        (md(" · MCP server `{}`", server) if server else md("")))
            if hints.get("readOnlyHint"):
                st.badge("read-only", icon=":material/visibility:", color="green")
            if hints.get("destructiveHint"):
                st.badge("destructive", icon=":material/warning:", color="red")
        st.code(json.dumps(call.get("arguments", {}), indent=2, ensure_ascii=False),
                language="json")
        chosen = st.session_state.get(f"decide_{message_id}_{cid}")
        if chosen:
            st.caption(md("You {} this call; the run goes on once every call is decided.",
                          DECIDED[chosen]))
            return
        row = st.container(horizontal=True, gap="small")
        for decision, label, icon, kind in BUTTONS:
            row.button(plain(label), icon=icon, type=kind, disabled=not enabled,
                       key=f"{decision}_{message_id}_{cid}", on_click=_decide,
                       args=(conversation_id, message_id, cid, decision, asking, typed))


def typed_results(conversation_id: int, message: StoredMessage, *, enabled: bool) -> None:
    """The calls the run waits on: a person approves or denies each call that asks first,
    and types each result of a page-defined tool."""
    waiting = [c for s in message.meta.get("steps", ()) for c in s.get("calls", ())
               if c.get("pending")]
    asking = [c["id"] for c in waiting if c.get("asks")]
    typed = [c for c in waiting if not c.get("asks")]
    for c in waiting:
        if c.get("asks"):
            approval_request(conversation_id, message.id, c, asking, bool(typed),
                             enabled=enabled)
    for c in typed:
        st.text_area(md("Result of `{}` for the model", c["name"]),
                     key=f"typed_{message.id}_{c['id']}",
                     placeholder="What the tool would have returned")
    if typed:
        st.button("Send results", icon=":material/send:", type="primary",
                  disabled=not enabled, key=f"send_typed_{message.id}",
                  on_click=_send_results,
                  args=(conversation_id, message.id, [c["id"] for c in typed], asking))


EDITING = "chat_editing"   # the id of the message whose editor is open
VIEW = "chat_view"         # + _<id>: which box a reply has open under it, if any
COPY, CONTEXT = "copy", "context"
VIEWS = (COPY, CONTEXT)


def view_label(view: str) -> Markdown:
    return (Markdown(":material/content_copy: Copy") if view == COPY
            else Markdown(":material/stacked_bar_chart: Context anatomy"))


def _set_editing(message_id: int | None) -> None:
    st.session_state[EDITING] = message_id


def _queue_edit(conversation_id: int, message_id: int) -> None:
    st.session_state[EDITING] = None
    _queue(conversation_id, st.session_state.get(f"edit_{message_id}", ""), message_id)


def message_actions(conversation_id: int, message: StoredMessage,
                    asked: StoredMessage | None, *, last: bool, enabled: bool) -> None:
    """A row under a message: Edit for the user's; Copy, and Regenerate for the last reply.
    `asked` is the user message a reply answered."""
    mid = message.id
    reply = message.role == "assistant"
    paused = last and message.meta.get("run_end") == "paused"
    editing = not reply and st.session_state.get(EDITING) == mid
    # A row only where controls share one: every element is redrawn on each rerun, and 20
    # messages' rows were a sixth of the Chat page's (bench/bench_rerun.py).
    shared = len(message.branches) > 1 or (reply and last and (asked is not None or paused))
    with (st.container(horizontal=True, gap="small", vertical_alignment="center") if shared
          else nullcontext()):
        branch_switch(conversation_id, message)
        if not reply and not editing:
            # One editor at a time, drawn only while editing: a text box under every message
            # made each rerun pay for all of them.
            st.button("Edit", icon=":material/edit:", type="tertiary", disabled=not enabled,
                      key=f"edit_open_{mid}", on_click=_set_editing, args=(mid,))
        if reply:
            reply_actions(conversation_id, message, asked, last=last, paused=paused,
                          enabled=enabled)
    if editing:
        editor(conversation_id, message, enabled=enabled)
    view = st.session_state.get(f"{VIEW}_{mid}") if reply else None
    if view == COPY:
        st.caption("The whole reply as Markdown; copy it with the button in the box's corner.")
        st.code(message.content, language="markdown", wrap_lines=True)
    elif view == CONTEXT and message.meta.get("anatomy"):
        st.html(anatomy_html(message.meta["anatomy"], message.meta.get("input_tokens")))
    if reply and last and message.meta.get("run_end") == "awaiting":
        typed_results(conversation_id, message, enabled=enabled)


def editor(conversation_id: int, message: StoredMessage, *, enabled: bool) -> None:
    """The open editor of a sent message: Send edited starts a branch."""
    mid = message.id
    st.text_area("Edit your message", message.content, key=f"edit_{mid}")
    buttons = st.container(horizontal=True, gap="small")
    buttons.button("Send edited", key=f"send_edit_{mid}", type="primary",
                   icon=":material/send:", disabled=not enabled, on_click=_queue_edit,
                   args=(conversation_id, mid))
    buttons.button("Cancel", key=f"cancel_edit_{mid}", type="tertiary",
                   on_click=_set_editing, args=(None,))
    st.caption("The edit starts a new branch: this message and its replies stay "
               "reachable with ‹ ›, and the Costs page keeps every call.")


def reply_actions(conversation_id: int, message: StoredMessage, asked: StoredMessage | None,
                  *, last: bool, paused: bool, enabled: bool) -> None:
    """The Copy and Context anatomy pills; on the last reply, Go on (a paused run) and
    Regenerate."""
    mid = message.id
    # One toggle row whose choice opens its box under the reply, not a popover and an
    # expander each: every element is redrawn on each rerun, and those two were a third of
    # a 20-message Chat page's (bench/bench_rerun.py).
    st.pills("Show", [v for v in VIEWS if v != CONTEXT or message.meta.get("anatomy")],
             format_func=view_label, key=f"{VIEW}_{mid}",
             label_visibility="collapsed")
    if paused:
        st.button("Go on", icon=":material/play_arrow:", type="tertiary", key=f"go_on_{mid}",
                  disabled=not enabled, on_click=_go_on, args=(conversation_id, mid),
                  help="Let the run take more steps (the Tools section's step limit)")
    if last and asked is not None:
        st.button("Regenerate", icon=":material/refresh:", type="tertiary",
                  key=f"regen_{mid}", disabled=not enabled,
                  help="Ask again; this reply is kept beside the new one (‹ › switches "
                       "between them)",
                  on_click=_queue, args=(conversation_id, asked.content, asked.id, True))
