"""Core: the error tree, settings, time and money helpers, logging, load-once caches and
bounded worker processes. Everything else builds on this; it imports nothing of ours."""

from lib.core.caches import Once, once
from lib.core.clock import ago_iso, now_iso, today
from lib.core.errors import (
    ApiError,
    ApiKeyError,
    BatchError,
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
    JudgeError,
    KnowledgeBaseError,
    NotFoundError,
    ParseError,
    PromptLabError,
    PromptStoreError,
    ProviderError,
    RenderError,
    SchemaError,
    SearchError,
    StorageError,
    SummaryError,
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
from lib.core.jsontext import MAX_DEPTH as JSON_MAX_DEPTH
from lib.core.jsontext import depth as json_depth
from lib.core.jsontext import loads as json_loads
from lib.core.jsontext import values as json_values
from lib.core.lazy import lazy_face
from lib.core.logs import log_path, setup_logging
from lib.core.memory import MemoryGuard, rss_mb
from lib.core.money import MICRO, format_usd, format_usd_pair, to_micro
from lib.core.plugins import Failure, Registered, failures, registered
from lib.core.redaction import redact, remember_secrets
from lib.core.settings import ROOT, Settings, get_settings, load_settings, secrets_path
from lib.core.workers import Worker, WorkerPool

__all__ = [
    "JSON_MAX_DEPTH",
    "LOG_STEP",
    "MICRO",
    "ROOT",
    "ApiError",
    "ApiKeyError",
    "BatchError",
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
    "Failure",
    "JudgeError",
    "KnowledgeBaseError",
    "MemoryGuard",
    "NotFoundError",
    "Once",
    "ParseError",
    "PromptLabError",
    "PromptStoreError",
    "ProviderError",
    "Registered",
    "RenderError",
    "SchemaError",
    "SearchError",
    "Settings",
    "StorageError",
    "SummaryError",
    "TemplateError",
    "TokenizerError",
    "ToolError",
    "VariableError",
    "VectorIndexError",
    "Worker",
    "WorkerError",
    "WorkerPool",
    "ago_iso",
    "atomic_write",
    "bucket_value",
    "csv_text",
    "failures",
    "format_usd",
    "format_usd_pair",
    "frame_csv",
    "get_settings",
    "json_depth",
    "json_loads",
    "json_values",
    "latency_bucket",
    "lazy_face",
    "load_settings",
    "log_path",
    "now_iso",
    "once",
    "redact",
    "registered",
    "remember_secrets",
    "rss_mb",
    "safe_cell",
    "secrets_path",
    "setup_logging",
    "to_micro",
    "today",
]
