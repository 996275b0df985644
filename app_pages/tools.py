import streamlit as st

from lib.ui.kit import app
from lib.ui.tools import view

settings = app.settings()
st.title("Tools")
view.intro(settings)
view.servers(settings)
view.others(settings)
