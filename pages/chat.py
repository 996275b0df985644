import streamlit as st

from lib import conversations, knowledge
from lib.chat import TurnOptions, plan_context
from lib.errors import PromptLabError
from lib.providers.base import Message
from lib.tokens import counter_for
from lib.ui import chat_view as view
from lib.ui import common, prompts_view

settings = common.settings()
current = view.current_conversation(settings)
view.conversation_sidebar(settings, current)

with st.sidebar:
    st.divider()
    status = common.model_picker(view.MODEL_KEY, default=current.model if current else None)
    model = status.model
    key = f"system_{current.id if current else 'new'}"
    if current and f"{key}_text" not in st.session_state:
        st.session_state[f"{key}_text"] = current.system
    try:
        system, prompt_name, prompt_version = prompts_view.system_from_prompt(key)
    except PromptLabError as exc:
        common.show_error(exc)
        system, prompt_name, prompt_version = "", None, None
    kbs = [kb.name for kb in knowledge.list_kbs(settings)]
    kb_name = st.selectbox("Ground in a knowledge base", kbs, index=None, key="chat_kb",
                           placeholder="No documents" if kbs else "Add documents first",
                           disabled=not kbs)
    top_k = st.slider("Chunks per turn", 1, 10, 4, key="chat_top_k") if kb_name else 4
    temperature = st.slider("Temperature", 0.0, 2.0, 0.7, 0.05, disabled=not model.temperature)
    max_tokens = st.number_input("Max output tokens", 1, model.max_output,
                                 min(512, model.max_output), step=64)

st.title(current.title if current else "Chat")
view.show_notice()
history = conversations.messages(settings.db_path, current.id) if current else []
turns = [Message(m.role, m.content) for m in history]
plan = None
try:
    if status.available:
        # The next call, if the next message is as long as the last one.
        typical = next((m.content for m in reversed(history) if m.role == "user"), "")
        plan = plan_context(counter_for(model, settings), model, system, turns, typical,
                            int(max_tokens))
except PromptLabError as exc:
    common.show_error(exc)
view.render_history(history, plan.dropped if plan else 0)

try:
    if plan is not None:
        last_docs = next((m.meta.get("documents_tokens", 0) for m in reversed(history)
                          if m.role == "assistant"), 0) if kb_name else 0
        view.context_bar(plan, last_docs)
        view.exact_count(settings, model, plan, turns, system)
except PromptLabError as exc:
    common.show_error(exc)

text = st.chat_input("Send a message (Enter to send)", disabled=not status.available)
if text:
    options = TurnOptions(system=system, temperature=temperature, max_tokens=int(max_tokens),
                          prompt_name=prompt_name, prompt_version=prompt_version,
                          knowledge_base=kb_name, top_k=top_k)
    try:
        view.run_turn(view.new_turn(settings, current, model, text, options))
    except PromptLabError as exc:
        common.show_error(exc)
        st.caption("Your message was not sent; here it is to copy:")
        st.code(text, language=None)
