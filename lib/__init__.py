"""Prompt Lab's library: services, providers, storage. Only lib.ui imports Streamlit."""
