"""The only Streamlit-aware helpers: session state, caching, and rendering shared by pages."""
