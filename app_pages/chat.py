import streamlit as st

from lib import chat
from lib.ui.chat import actions, messages, sidebar, stream
from lib.ui.chat import settings as kept
from lib.ui.kit import app, widgets
from lib.ui.kit.text import plain

settings = app.settings()
current, lost = sidebar.current_conversation(settings)
st.title(plain(current.title) if current else "Chat")  # first: the page shows at once
if lost is not None:
    app.link_not_found("conversation", lost)
sidebar.conversation_sidebar(settings, current)
turn = kept.turn_settings(settings, current)   # model or router, options, tools: kept

messages.show_notice()
resend = actions.pending(current.id if current else None)
text = st.chat_input("Send a message (Enter to send)" if turn.schema_ok else
                     "Fix the output schema to send", disabled=not turn.can_send)
draft = widgets.guarded(lambda: chat.ChatSession(settings, current).draft(
    turn.options, actions.ask(resend, text), turn.model))
if draft is None:
    st.stop()
messages.render_draft(draft, enabled=turn.available)
if (text or resend) and turn.can_send:
    stream.send_or_explain(draft, turn.remember)
