"""The Costs page's prices: the model catalog's prices, edited and saved to the user's copy."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from lib.core import PromptLabError, Settings
from lib.llm import ModelInfo, provider_names, save_user_catalog
from lib.ui.kit import app
from lib.ui.kit.text import md


def prices_editor(settings: Settings) -> None:
    catalog = app.catalog()
    st.caption(md("Prices last checked: **{}**. US dollars per million tokens. Saving writes "
                  "your copy to the data folder (the shipped list stays as it is) and marks "
                  "the prices as checked today.", catalog.prices_checked))
    rows = [m.__dict__ for m in catalog.models]
    edited = st.data_editor(rows, key="prices", num_rows="dynamic", width="stretch",
                            column_config={
                                "provider": st.column_config.SelectboxColumn(
                                    options=provider_names(),
                                    required=True),
                                "temperature": st.column_config.CheckboxColumn(default=True),
                                # A discovered model has no price until one is set here.
                                "source": st.column_config.TextColumn(disabled=True),
                                "priced": st.column_config.CheckboxColumn(
                                    default=True, help="Off: discovered, price unknown. A "
                                    "price (or ticking it: free) saves it as priced.")})
    if st.button("Save prices", type="primary", key="prices_save"):
        try:
            models = [ModelInfo(**{k: v for k, v in row.items() if v is not None})
                      for row in edited if row.get("id")]
            save_user_catalog(settings, models, dt.date.today().isoformat())
            st.success("Saved.")
        except (PromptLabError, TypeError, ValueError) as exc:
            st.error(md("Not saved: {}", exc))
