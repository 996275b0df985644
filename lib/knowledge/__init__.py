"""Knowledge: documents parsed, chunked, embedded and stored in Chroma; the SQLite registry
as the source of truth; dense, BM25 and hybrid retrieval."""

from lib.knowledge.bm25 import tokens as keyword_tokens
from lib.knowledge.chunking import DEFAULT_OVERLAP, DEFAULT_SIZE, Chunk, chunk_sections
from lib.knowledge.detect import detect
from lib.knowledge.embeddings import (
    count_tokens,
    embed,
    max_tokens,
    model_label,
    model_name,
    wordpiece,
)
from lib.knowledge.embeddings import load as embedding_model
from lib.knowledge.index import client as chroma_client
from lib.knowledge.ingest import IngestResult, Progress, index_parsed, ingest, rebuild_index
from lib.knowledge.parsers import MAX_CHARS, MAX_PAGES, Section
from lib.knowledge.parsing import Parsed, parse
from lib.knowledge.registry import (
    Document,
    IndexHealth,
    KnowledgeBase,
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
    RRF_K,
    Hit,
    bm25,
    dense,
    dense_by_vector,
    fill_hits,
    fuse,
    search,
)

__all__ = [
    "DEFAULT_OVERLAP", "DEFAULT_SIZE", "MAX_CHARS", "MAX_PAGES", "MODES", "RRF_K", "Chunk",
    "Document", "Hit", "IndexHealth", "IngestResult", "KnowledgeBase", "Parsed", "Progress",
    "Section", "bm25", "chroma_client", "chunk_sections", "chunks_for_call", "chunks_of",
    "count_tokens", "create_kb", "delete_document", "delete_kb", "dense", "dense_by_vector",
    "detect", "documents", "embed", "embedding_model", "fill_hits", "fuse", "get_kb",
    "index_count", "index_health", "index_parsed", "indexed_ids", "ingest", "keyword_tokens",
    "link_call", "list_kbs", "max_tokens", "model_label", "model_name", "parse",
    "rebuild_index", "search", "store_vectors", "wordpiece",
]
