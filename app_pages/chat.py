import streamlit as st

from lib import chat, knowledge
from lib.core import PromptLabError
from lib.ui import chat_actions as actions
from lib.ui import chat_messages as messages
from lib.ui import chat_router, chat_summary, chat_tools
from lib.ui import chat_settings as kept
from lib.ui import chat_sidebar as sidebar
from lib.ui import chat_stream as stream
from lib.ui.kit import app, widgets
from lib.ui.kit import resilience as resilience_view
from lib.ui.kit import stored_prompts as prompts_view
from lib.ui.kit import structured_output as structured_view
from lib.ui.kit.text import plain

settings = app.settings()
current, lost = sidebar.current_conversation(settings)
st.title(plain(current.title) if current else "Chat")  # first: the page shows at once
if lost is not None:
    app.link_not_found("conversation", lost)
sidebar.conversation_sidebar(settings, current)
kbs = [kb.name for kb in knowledge.list_kbs(settings)]
kept.restore(current, kbs, {widgets.ROUTER, *(m.key for m in app.catalog().models)})

with st.sidebar:
    st.divider()
    status = widgets.model_picker(sidebar.MODEL_KEY, router=True)
    key = f"system_{current.id if current else 'new'}"
    routing = chat_router.task_sidebar(settings, key) if status is None else None
    status = routing.status if routing else status
    model = status.model
    fallbacks = resilience_view.fallback_picker(model)
    if current and f"{key}_text" not in st.session_state:
        st.session_state[f"{key}_text"] = current.system
    try:
        system, prompt_name, prompt_version = prompts_view.system_from_prompt(key)
    except PromptLabError as exc:
        widgets.show_error(exc)
        system, prompt_name, prompt_version = "", None, None
    kb_name = st.selectbox("Ground in a knowledge base", kbs, index=None, key=kept.KB,
                           placeholder="No documents" if kbs else "Add documents first",
                           disabled=not kbs)
    kept.start(model)
    top_k = st.slider("Chunks per turn", 1, 10, key=kept.TOP_K) if kb_name else 4
    tools = chat_tools.tools_sidebar(kb_name)
    temperature = st.slider("Temperature", 0.0, 2.0, step=0.05, key=kept.TEMPERATURE,
                            disabled=not model.temperature)
    max_tokens = st.number_input("Max output tokens", 1, model.max_output, step=64,
                                 key=kept.MAX_TOKENS)
    strategy = chat_summary.strategy_picker(settings, current)
    try:
        output_schema, schema_ok = structured_view.schema_input(prompt_name, prompt_version), True
    except PromptLabError as exc:  # sending is held until the schema is fixed
        widgets.show_error(exc)
        output_schema, schema_ok = None, False
remember = kept.chosen()
kept.remember(settings, current, remember)

messages.show_notice()
resend = actions.pending(current.id if current else None)
history = chat.list_messages(settings.db_path, current.id) if current else []
if resend and resend.replace_from is not None:  # an edit or a regenerate: the turns it
    history = [m for m in history if m.id < resend.replace_from]  # branches from go
summary = chat_summary.active(settings, current, strategy, resend.replace_from if resend else None)
estimate = None
try:
    if status.available:
        estimate = chat.next_call(settings, model, system, history, int(max_tokens),
                                  grounded=bool(kb_name), summary=summary)
except PromptLabError as exc:
    widgets.show_error(exc)
if current:
    messages.render_history(current.id, history, estimate.left_out if estimate else (),
                            enabled=status.available, summary=summary,
                            summarising=strategy == chat.SUMMARISE)

try:
    if estimate is not None:
        messages.context_bar(estimate, summarising=strategy == chat.SUMMARISE)
        messages.exact_count(settings, model, estimate, history, system)
except PromptLabError as exc:
    widgets.show_error(exc)

line = kept.active_line(tools.tools, output_schema, kb_name)
if line:
    st.caption(line)
text = st.chat_input("Send a message (Enter to send)" if schema_ok else
                     "Fix the output schema to send", disabled=not (status.available and schema_ok))
if resend:
    text = resend.text
if text or (resend and resend.continue_from):
    options = chat.TurnOptions(system=system, temperature=temperature,
                               max_tokens=int(max_tokens), prompt_name=prompt_name,
                               prompt_version=prompt_version, knowledge_base=kb_name,
                               top_k=top_k, tools=tools.tools, tool_choice=tools.choice,
                               max_steps=tools.max_steps, max_cost_usd=tools.max_cost_usd,
                               output_schema=output_schema, fallbacks=fallbacks,
                               history=strategy, user=app.user(),
                               skip_summary=resend.skip_summary if resend else "")
    try:
        if routing is not None:  # the router picks this turn's model from its whole input
            model, options = chat_router.route_turn(settings, routing, prompt_name, system,
                                                    history, text or "", options)
        stream.send(settings, current.id if current else None, model, text or "", options,
                    replace_from=resend.replace_from if resend else None,
                    again=resend.again if resend else False,
                    continue_from=resend.continue_from if resend else None,
                    typed=resend.typed if resend else None, remember=remember)
    except PromptLabError as exc:
        widgets.show_error(exc)
        st.caption("Nothing was replaced; your edited message is here to copy:" if resend
                   else "Your message was not sent; here it is to copy:")
        st.code(text, language=None)
