"""Knowledge: documents parsed, chunked, embedded and stored in Chroma; the SQLite registry
as the source of truth; dense, BM25 and hybrid retrieval."""

from typing import TYPE_CHECKING

from lib.core import lazy_face

if TYPE_CHECKING:  # the face (lazy_face reads it: each module loads on first use)
    from lib.knowledge.chunking import (
        DEFAULT_OVERLAP,
        DEFAULT_SIZE,
        Chunk,
        chunk_label,
        chunk_sections,
    )
    from lib.knowledge.embeddings import (
        count_tokens,
        embed,
        embed_query,
        embedding_model,
        max_tokens,
        model_label,
        model_name,
        wordpiece,
    )
    from lib.knowledge.filetype import detect
    from lib.knowledge.fusion import METHODS, Evidence, FusionSettings, fuse, single, spread
    from lib.knowledge.index import chroma_client
    from lib.knowledge.keyword import keyword_tokens
    from lib.knowledge.parsers import MAX_CHARS, MAX_PAGES, Section
    from lib.knowledge.parsing import Parsed, parse, parse_many
    from lib.knowledge.pipeline import IngestResult, Progress, index_parsed, ingest, rebuild_index
    from lib.knowledge.registry import (
        Document,
        IndexHealth,
        KnowledgeBase,
        chunk_texts,
        chunks_for_call,
        chunks_of,
        create_kb,
        delete_document,
        delete_kb,
        documents,
        get_kb,
        index_count,
        index_health,
        indexed_ids,
        link_call,
        list_kbs,
        store_vectors,
    )
    from lib.knowledge.retrieval import (
        MODES,
        Hit,
        SideBySide,
        bm25,
        dense,
        dense_by_vector,
        fill_hits,
        save_search_settings,
        search,
        search_settings,
        side_by_side,
    )
    from lib.knowledge.storing import EMBED_BATCH
else:
    __getattr__, __dir__, __all__ = lazy_face(__name__)
