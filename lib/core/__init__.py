"""Core: the error tree, settings, time and money helpers, logging, load-once caches and
bounded worker processes. Everything else builds on this; it imports nothing of ours."""

from lib.core.caches import Once, once
from lib.core.clock import ago_iso, now_iso, today
from lib.core.errors import (
    BudgetError,
    BudgetExceededError,
    CatalogError,
    CheckError,
    ChunkingError,
    CompareError,
    ConfigError,
    ConflictError,
    ContextOverflowError,
    DatasetError,
    DocumentError,
    EmbeddingError,
    KnowledgeBaseError,
    NotFoundError,
    ParseError,
    PromptLabError,
    PromptStoreError,
    ProviderError,
    RenderError,
    SearchError,
    StorageError,
    TemplateError,
    TokenizerError,
    ToolError,
    VariableError,
    VectorIndexError,
    WorkerError,
)
from lib.core.exports import csv_text, frame_csv, safe_cell
from lib.core.files import atomic_write
from lib.core.histogram import LOG_STEP, bucket_value, latency_bucket
from lib.core.jsontext import loads as json_loads
from lib.core.lazy import lazy_face
from lib.core.logs import log_path, setup_logging
from lib.core.memory import MemoryGuard, rss_mb
from lib.core.money import MICRO, format_usd, format_usd_pair, to_micro
from lib.core.settings import ROOT, Settings, get_settings, load_settings, secrets_path
from lib.core.workers import WorkerPool

__all__ = [
    "LOG_STEP",
    "MICRO",
    "ROOT",
    "BudgetError",
    "BudgetExceededError",
    "CatalogError",
    "CheckError",
    "ChunkingError",
    "CompareError",
    "ConfigError",
    "ConflictError",
    "ContextOverflowError",
    "DatasetError",
    "DocumentError",
    "EmbeddingError",
    "KnowledgeBaseError",
    "MemoryGuard",
    "NotFoundError",
    "Once",
    "ParseError",
    "PromptLabError",
    "PromptStoreError",
    "ProviderError",
    "RenderError",
    "SearchError",
    "Settings",
    "StorageError",
    "TemplateError",
    "TokenizerError",
    "ToolError",
    "VariableError",
    "VectorIndexError",
    "WorkerError",
    "WorkerPool",
    "ago_iso",
    "atomic_write",
    "bucket_value",
    "csv_text",
    "format_usd",
    "format_usd_pair",
    "frame_csv",
    "get_settings",
    "json_loads",
    "latency_bucket",
    "lazy_face",
    "load_settings",
    "log_path",
    "now_iso",
    "once",
    "rss_mb",
    "safe_cell",
    "secrets_path",
    "setup_logging",
    "to_micro",
    "today",
]
