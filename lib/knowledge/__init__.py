"""Knowledge: documents parsed, chunked, embedded and stored in Chroma; the SQLite registry
as the source of truth; dense, BM25 and hybrid retrieval."""

from lib.core import lazy_face

__getattr__, __dir__, __all__ = lazy_face(__name__, {
    "lib.knowledge.keyword": ("keyword_tokens",),
    "lib.knowledge.chunking": ("DEFAULT_OVERLAP", "DEFAULT_SIZE", "Chunk", "chunk_label",
                               "chunk_sections"),
    "lib.knowledge.filetype": ("detect",),
    "lib.knowledge.embeddings": (
        "count_tokens", "embed", "embed_query", "embedding_model", "max_tokens", "model_label",
        "model_name", "wordpiece",
    ),
    "lib.knowledge.index": ("chroma_client",),
    "lib.knowledge.pipeline": (
        "IngestResult", "Progress", "index_parsed", "ingest", "rebuild_index"
    ),
    "lib.knowledge.storing": ("EMBED_BATCH",),
    "lib.knowledge.parsers": ("MAX_CHARS", "MAX_PAGES", "Section"),
    "lib.knowledge.parsing": ("Parsed", "parse", "parse_many"),
    "lib.knowledge.registry": (
        "Document", "IndexHealth", "KnowledgeBase", "chunk_texts", "chunks_for_call", "chunks_of",
        "create_kb",
        "delete_document", "delete_kb", "documents", "get_kb", "index_count", "index_health",
        "indexed_ids", "link_call", "list_kbs", "store_vectors"
    ),
    "lib.knowledge.retrieval": (
        "MODES", "Hit", "SideBySide", "bm25", "dense", "dense_by_vector", "fill_hits",
        "save_search_settings", "search", "search_settings", "side_by_side",
    ),
    "lib.knowledge.fusion": ("METHODS", "Evidence", "FusionSettings", "fuse", "single", "spread"),
})
