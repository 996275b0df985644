import streamlit as st

from lib.ui import api_view as view
from lib.ui import app

settings = app.settings()
st.title("API")
view.intro(settings)
view.create_form(settings)
keys = view.keys_table(settings)
view.manage(settings, keys)
view.how_to_call(settings)
