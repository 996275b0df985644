import streamlit as st

from lib import tokenviz
from lib.ui.kit import app
from lib.ui.kit.text import md
from lib.ui.tokens import spans

settings = app.settings()
st.title("Tokens")

text = spans.source_text(settings)
if not text:
    st.stop()

c1, c2 = st.columns([2, 1])
name = c1.selectbox("Tokenizer", tokenviz.TOKENIZERS, key="tok_name")
show_ids = c2.toggle("Show token ids", key="tok_ids")
if not spans.draw_spans(name, text, settings, show_ids=show_ids):
    st.stop()

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
