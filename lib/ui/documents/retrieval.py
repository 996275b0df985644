"""Retrieval page pieces: each retriever's hits with why they ranked, and a knowledge base's
fusion settings."""

from __future__ import annotations

import streamlit as st

from lib import knowledge
from lib.core import PromptLabError, Settings
from lib.knowledge import FusionSettings, Hit, KnowledgeBase
from lib.ui.kit.text import Markdown, inert, join, md, plain
from lib.ui.kit.widgets import show_error

METHOD_LABELS = {"scores": "Scores (z-score weighted sum)",
                 "ranks": "Ranks (reciprocal rank fusion)"}


def describe(fs: FusionSettings) -> Markdown:
    how = ("z-scores" if fs.method == "scores" else f"reciprocal ranks (k = {fs.rrf_k})")
    per = f"{fs.per_document} chunk{'s' if fs.per_document != 1 else ''}"
    return md("Hybrid fuses {}, dense weight {:.2f}, keyword weight {:.2f}; {} per document "
              "before other documents get a turn (hybrid only: dense and BM25 show their own "
              "rankings).", how, fs.dense_weight, 1 - fs.dense_weight, per)


def spread_rule(fs: FusionSettings) -> Markdown:
    """The per-document rule, which belongs to hybrid alone."""
    per = f"{fs.per_document} chunk{'s' if fs.per_document != 1 else ''}"
    return md("Both lists fused, then at most {} per document while other documents still "
              "have candidates.", per)


NOTES = {"dense": md("Its own ranking: nearest by meaning (cosine similarity)."),
         "bm25": md("Its own ranking: best keyword matches.")}


def why(h: Hit, fused: bool) -> Markdown:
    """Where a hit stands in each retriever's ranking of every chunk searched, and its fused
    score."""
    dense = (md("— not in the vector index") if h.dense_rank is None
             else md("#{} ({:.3f})", h.dense_rank, h.dense_score))
    keyword = (md("— shares no word with the query") if h.bm25_rank is None
               else md("#{} ({:.2f})", h.bm25_rank, h.bm25_score))
    parts = [md("dense {}", dense), md("BM25 {}", keyword)]
    if fused:
        parts.append(md("fused {:.3f}", h.score))
    return join(" · ", parts)


def hit_list(title: str, note: Markdown, hits: list[Hit], seen_in: dict[str, int], *,
             fused: bool) -> None:
    """One retriever's hits; a chunk found by several retrievers is marked."""
    st.markdown(md("**{}**", title))
    st.caption(note)
    if not hits:
        st.caption("No results.")
    for h in hits:
        n = seen_in.get(h.chunk_id, 1)
        badge = (Markdown(" :green-badge[in all 3]") if n == 3 else
                 Markdown(" :blue-badge[in 2]") if n == 2 else Markdown())
        where = knowledge.chunk_label(h.source, h.page, h.index)
        with st.container(border=True):
            st.markdown(md("**{}.** `{:.3f}` {}{}", h.rank, h.score, where, badge))
            st.caption(why(h, fused))
            st.caption(inert(h.text[:400]) + ("…" if len(h.text) > 400 else ""))


def overlap_counts(*rankings: list[Hit]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ranking in rankings:
        for cid in {h.chunk_id for h in ranking}:
            counts[cid] = counts.get(cid, 0) + 1
    return counts


def settings_form(settings: Settings, kb: KnowledgeBase) -> None:
    """The base's fusion settings: every search of it uses them (Retrieval, grounded chat)."""
    current = knowledge.search_settings(settings.db, kb)
    with st.expander("Search settings for this knowledge base"):
        with st.form(f"fusion_{kb.id}", border=False):
            method = st.radio("Fusion", list(METHOD_LABELS),
                              format_func=lambda m: plain(METHOD_LABELS[m]),
                              index=list(METHOD_LABELS).index(current.method),
                              key=f"fs_method_{kb.id}", horizontal=True)
            weight = st.slider("Dense weight (the keyword weight is the rest)", 0.0, 1.0,
                               current.dense_weight, 0.05, key=f"fs_weight_{kb.id}")
            c1, c2 = st.columns(2)
            rrf_k = c1.number_input("RRF constant k (ranks only)", 1, 1000, current.rrf_k,
                                    key=f"fs_rrf_{kb.id}")
            per_document = c2.number_input("Chunks per document before others get a turn", 1,
                                           100, current.per_document, key=f"fs_per_{kb.id}")
            saved = st.form_submit_button("Save search settings", type="primary")
        if st.button("Reset to defaults", key=f"fs_reset_{kb.id}"):
            _save(settings, kb, FusionSettings(), reset=True)
    if saved:
        _save(settings, kb, FusionSettings(method, float(weight), int(rrf_k), int(per_document)))


def _save(settings: Settings, kb: KnowledgeBase, fs: FusionSettings, reset: bool = False) -> None:
    try:
        knowledge.save_search_settings(settings.db, kb, fs)
    except PromptLabError as exc:
        show_error(exc)
        return
    if reset:  # the widgets hold the old values until their keys go
        for name in ("method", "weight", "rrf", "per"):
            st.session_state.pop(f"fs_{name}_{kb.id}", None)
    st.toast("Search settings saved.")
    st.rerun()
