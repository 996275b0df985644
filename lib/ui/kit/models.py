"""Where the catalog's models came from (the catalog file, a provider's models endpoint, a
server of one's own, a plugin), which have no price yet, and Home's **Refresh models**."""

from __future__ import annotations

from collections import Counter

import streamlit as st

from lib.llm import (
    ModelInfo,
    askable,
    listing_under_way,
    model_listings,
    model_origin,
    refresh_models,
)
from lib.ui.kit import app
from lib.ui.kit.text import Markdown, join, md

PRICE_UNKNOWN = "price unknown"


def price_text(m: ModelInfo) -> str:
    """A model's price per million tokens, in and out, or "price unknown"."""
    if not m.priced:
        return PRICE_UNKNOWN
    return "free" if not (m.input or m.output) else f"${m.input:g} / ${m.output:g}"


def models_section() -> None:
    """Counts by origin, what a listing could not do, Refresh models, and every model."""
    settings = app.settings()
    asked = askable(settings)
    if st.button("Refresh models", icon=":material/refresh:", key="models_refresh",
                 disabled=not asked,
                 help="Ask each provider with a key (and your server) which models it serves "
                      "now; otherwise they are asked once a session, in the background."):
        with st.spinner("Asking each provider for its models…"):
            refresh_models(settings)
    models = app.catalog().models
    by_origin = Counter(model_origin(m, settings) for m in models)
    unpriced = sum(not m.priced for m in models)
    st.markdown(join(" · ", [md("**{}** {}", n, origin) for origin, n in by_origin.items()]
                     + ([md("**{}** with no price yet", unpriced)] if unpriced else [])))
    for listing in model_listings(settings):
        if listing.error:
            st.warning(md("Could not list models from {}: {}", listing.where, listing.error),
                       icon=":material/cloud_off:")
    if listing_under_way(settings):
        st.caption("Listing models in the background: they show on the next rerun.")
    elif not asked:
        st.caption("Models are listed live from each provider's endpoint once its key (or "
                   "PROMPTLAB_OPENAI_BASE_URL) is set, unless PROMPTLAB_DISCOVER_MODELS=0.")
    if unpriced:
        st.caption(md("A model with no price yet is usable; its cost reads “unknown” and "
                      "budgets refuse it. Give it a price on the Costs page's Prices tab or "
                      "in {}.", str(settings.data_dir / "models.toml")))
    with st.expander(md("All {} models", len(models))):
        rows = [Markdown("| Model | Provider | From | Window | Output | Price (in / out per M) |"),
                Markdown("|---|---|---|---|---|---|")]
        rows += [md("| {} | {} | {} | {:,} | {:,} | {} |", m.label, m.provider,
                    model_origin(m, settings), m.context_window, m.max_output, price_text(m))
                 for m in models]
        st.markdown(join("\n", rows))
