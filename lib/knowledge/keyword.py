"""BM25 over a knowledge base's chunk texts in the registry, built once per version of the
base and shared by every session; English stop words out, words stemmed."""

from __future__ import annotations

import functools
import threading
from typing import Any

from lib.core import Settings
from lib.knowledge.chunking import contextual
from lib.knowledge.registry import KnowledgeBase, kb_version, ready_chunks

_local = threading.local()


def _stemmer() -> Any:
    """One PyStemmer instance per thread: the C stemmer keeps state between calls."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        import Stemmer

        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer


def keyword_tokens(texts: list[str]) -> Any:
    """English stop words out, words stemmed ("serialized" and "serialize" match)."""
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), show_progress=False)


_build_lock = threading.Lock()


@functools.lru_cache(maxsize=8)
def _build(settings: Settings, kb_id: int, collection: str, version: int
           ) -> tuple[Any, list[str]]:
    """The collection name is in the key because SQLite may give a new base a deleted one's id."""
    import bm25s

    rows = ready_chunks(settings.db, kb_id)
    if not rows:
        return None, []
    retriever = bm25s.BM25()
    # The same text the embedding sees: a chunk's heading (or its document's title) is a field
    # every chunk of that section matches on.
    retriever.index(keyword_tokens([contextual(text, heading) for _, text, heading in rows]),
                    show_progress=False)
    return retriever, [cid for cid, _, _ in rows]


def index_for(settings: Settings, kb: KnowledgeBase) -> tuple[Any, list[str]]:
    """(retriever or None, chunk ids in index order) for the base's current version."""
    version = kb_version(settings.db, kb)
    with _build_lock:  # built once per version, even when sessions ask together
        return _build(settings, kb.id, kb.collection, version)
