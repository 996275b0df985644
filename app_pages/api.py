import streamlit as st

from lib.ui.api import keys as view
from lib.ui.kit import app

settings = app.settings()
st.title("API")
view.intro(settings)
view.create_form(settings)
keys = view.keys_table(settings)
view.manage(settings, keys)
view.how_to_call(settings)
