import streamlit as st

from lib import chat, tokenviz
from lib.core import PromptLabError
from lib.ui.kit import app, widgets
from lib.ui.kit import stored_prompts as pv
from lib.ui.kit.text import md

settings = app.settings()
st.title("Tokens")

source = st.segmented_control("Text from", ["Paste", "A prompt version", "A conversation"],
                              default="Paste", key="tok_source") or "Paste"
text = ""
try:
    if source == "Paste":
        text = st.text_area("Text", key="tok_text", height=180,
                            placeholder="Paste any text to see how each tokenizer cuts it.")
    elif source == "A prompt version":
        names = pv.store().names()
        name = st.selectbox("Prompt", names, key="tok_prompt")
        prompt = pv.store().get(name)
        ref = st.selectbox("Version", pv.ref_options(prompt), key="tok_ref",
                           help=pv.REF_HELP, format_func=lambda r: pv.ref_label(prompt, r))
        with st.expander("Variables"):
            values = pv.variable_form(prompt.variables, key=f"tok_{name}")
        text = pv.store().render(name, ref, values)[1]
    else:
        convs = chat.list_conversations(settings.db_path, owner=app.user())
        if not convs:
            st.info("No conversations yet.")
        else:
            conv = st.selectbox("Conversation", convs, key="tok_conv",
                                format_func=lambda c: c.title)
            text = "\n\n".join(f"{m.role}: {m.content}"
                               for m in chat.list_messages(settings.db_path, conv.id))
except PromptLabError as exc:
    widgets.show_error(exc)

if not text:
    st.stop()

c1, c2 = st.columns([2, 1])
name = c1.selectbox("Tokenizer", tokenviz.TOKENIZERS, key="tok_name")
show_ids = c2.toggle("Show token ids", key="tok_ids")
try:
    pieces = tokenviz.pieces(name, text, settings)
except PromptLabError as exc:
    widgets.show_error(exc)
    st.stop()
n = tokenviz.count(pieces)
st.markdown(md("**{:,} tokens**, {:,} characters ({:.2f} characters per token)", n, len(text),
               len(text) / n if n else 0))
pages = max(1, -(-len(pieces) // tokenviz.PAGE_SIZE))
page = 1
if pages > 1:
    page = st.number_input(md("Page (of {}; {:,} tokens drawn at a time so long texts stay "
                              "fast)", pages, tokenviz.PAGE_SIZE), 1, pages, 1, key="tok_page")
start = (page - 1) * tokenviz.PAGE_SIZE
st.html(tokenviz.spans_html(pieces, start, start + tokenviz.PAGE_SIZE, show_ids=show_ids))
if pages > 1:
    st.caption(md("Showing pieces {:,}–{:,} of {:,}.", start + 1,
                  min(len(pieces), start + tokenviz.PAGE_SIZE), len(pieces)))

st.subheader("Side by side")
st.dataframe(tokenviz.tokenizer_table(text, settings), hide_index=True, width="stretch")

st.subheader("As input to each model")
rows = tokenviz.model_table(text, app.catalog(), settings)
st.dataframe(rows, hide_index=True, width="stretch", column_config={
    "input cost (USD)": st.column_config.NumberColumn(format="$%.6f"),
    "window used": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0,
                                                   format="percent")})
over = [r["model"] for r in rows if r["window used"] > 1]
if over:
    st.warning(md("Too long for: {}.", ", ".join(over)))
