import streamlit as st

from lib import spend
from lib.ui.calls import detail as view
from lib.ui.kit import app
from lib.ui.kit.text import md

settings = app.settings()
raw, call_id = view.requested_id()
st.title("Call" if call_id is None else md("Call {}", call_id))
if raw is None:
    st.info("Every model call has a page here: open one from a chat reply's **Call details**, "
            "a Compare cell, or a table of calls on the Costs page; or by its number.")
    view.open_form()
    st.stop()
# Someone else's call reads exactly as a missing one: an id cannot be probed.
detail = None if call_id is None else spend.call_detail(settings.db, call_id,
                                                        user=app.user())
if detail is None:
    st.warning(md("There is no call {} to show.", raw), icon=":material/search_off:")
    view.open_form()
    st.stop()
view.draw(detail)
