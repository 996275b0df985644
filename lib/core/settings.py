"""One settings object, read once: environment, then .streamlit/secrets.toml, then defaults."""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lib.core.errors import ConfigError
from lib.core.redaction import remember_secrets

if TYPE_CHECKING:
    from lib.storage import Database

ROOT = Path(__file__).resolve().parents[2]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    # PostgreSQL for every table (None: the SQLite file under data_dir); see `db`. Kept out of
    # repr: the URL may carry a password.
    database_url: str | None = field(default=None, repr=False)
    # Keys are kept out of repr so they never reach a log or a page by accident.
    anthropic_api_key: str | None = field(default=None, repr=False)
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None          # an OpenAI-compatible server (Ollama, vLLM, ...)
    openai_compat_api_key: str | None = field(default=None, repr=False)
    openai_compat_models: tuple[str, ...] = ()
    openai_compat_context_window: int = 8192
    discover_models: bool = True                # list each keyed provider's models (lib.llm)
    chroma_host: str | None = None
    chroma_port: int = 8000
    read_timeout_s: float = 60.0                # longest silence between two stream chunks
    deadline_s: float = 300.0                   # longest a whole call may take
    local_model_path: Path | None = None
    local_context_window: int = 4096
    local_threads: int = 0                      # 0: let llama.cpp choose
    embedding_model: str | None = None          # None: the bundled all-MiniLM-L6-v2
    max_upload_mb: int = 50
    max_chunks: int = 2000                      # per document: bounds one upload's embedding
    ingest_memory_mb: int = 1024                # how much one ingest may grow the app process
    prompts_dir: Path = ROOT / "prompts"
    evals_dir: Path = ROOT / "evals"            # eval files (evals/<name>.toml), lib.evals
    workflows_dir: Path = ROOT / "workflows"    # workflows/<name>/vN.toml, lib.workflows
    confirm_above_usd: float = 0.50            # ask before a compare run forecast above this
    compare_concurrency: int = 4
    structured_repairs: int = 1                 # repair attempts for a reply failing its schema
    max_tool_calls: int = 16                    # tool calls run per agent step (1 to 256)
    summary_model: str | None = None            # catalog key; None: the bundled local model
    rate_limits: str = ""                       # "compat=60/100000, openai=500": rpm[/tpm]
    api_host: str = "127.0.0.1"                 # where `make serve` listens (lib.api)
    api_port: int = 8400                        # not 8000: Chroma's own default port
    api_workers: int = 0                        # API processes on that port; 0: the CPU count
    mcp_host: str = "127.0.0.1"                 # where `python -m lib.mcp --http` listens
    mcp_port: int = 8401
    # Redis shared by every process (the app, each API worker): limits, breakers, the cache.
    # None: each process keeps its own, as a single process needs. Kept out of repr: the URL
    # may carry a password.
    redis_url: str | None = field(default=None, repr=False)
    app_url: str = ""                           # the lab's address, for links made elsewhere
    otel_content: bool = False                  # traces (lib.telemetry) carry message text
    metrics: bool = False                       # serve Prometheus /metrics on the API
    metrics_key: str | None = field(default=None, repr=False)  # its bearer token; None: open
    # The response cache (lib.llm.cache): the pages whose calls use it ("compare,eval,api"),
    # how long a reply is kept, and how many are kept (the oldest go first).
    cache_pages: tuple[str, ...] = ()
    cache_ttl_s: float = 7 * 24 * 3600.0
    cache_max_entries: int = 10_000
    log_level: str = "INFO"

    @property
    def db(self) -> Database:
        """The database these settings name: PostgreSQL at database_url, else the SQLite file
        under the data dir."""
        # The one import of core's that points up: settings name the database, storage builds
        # the handle on core (so it is imported here, late, not at the top).
        from lib.storage import Database

        if self.database_url:
            return Database.postgresql(self.database_url)
        return Database.sqlite(self.data_dir / "promptlab.sqlite3")


_FIELDS: dict[str, tuple[str, Callable[[str], object]]] = {
    "ANTHROPIC_API_KEY": ("anthropic_api_key", str),
    "OPENAI_API_KEY": ("openai_api_key", str),
    "PROMPTLAB_DATA_DIR": ("data_dir", Path),
    "PROMPTLAB_DATABASE_URL": ("database_url", str),
    "PROMPTLAB_REDIS_URL": ("redis_url", str),
    "PROMPTLAB_APP_URL": ("app_url", lambda v: v.strip().rstrip("/")),
    "PROMPTLAB_OTEL_CONTENT": ("otel_content", lambda v: _flag(v)),
    "PROMPTLAB_OPENAI_BASE_URL": ("openai_base_url", str),
    "PROMPTLAB_OPENAI_API_KEY": ("openai_compat_api_key", str),
    "PROMPTLAB_OPENAI_MODELS": ("openai_compat_models",
                                lambda v: tuple(m.strip() for m in v.split(",") if m.strip())),
    "PROMPTLAB_OPENAI_CONTEXT_WINDOW": ("openai_compat_context_window", int),
    "PROMPTLAB_DISCOVER_MODELS": ("discover_models", lambda v: _flag(v)),
    "PROMPTLAB_CHROMA_HOST": ("chroma_host", str),
    "PROMPTLAB_CHROMA_PORT": ("chroma_port", int),
    "PROMPTLAB_READ_TIMEOUT": ("read_timeout_s", float),
    "PROMPTLAB_DEADLINE": ("deadline_s", float),
    "PROMPTLAB_LOCAL_MODEL": ("local_model_path", Path),
    "PROMPTLAB_LOCAL_CONTEXT": ("local_context_window", int),
    "PROMPTLAB_LOCAL_THREADS": ("local_threads", int),
    "PROMPTLAB_EMBEDDING_MODEL": ("embedding_model", str),
    "PROMPTLAB_MAX_UPLOAD_MB": ("max_upload_mb", int),
    "PROMPTLAB_MAX_CHUNKS": ("max_chunks", int),
    "PROMPTLAB_INGEST_MEMORY_MB": ("ingest_memory_mb", int),
    "PROMPTLAB_PROMPTS_DIR": ("prompts_dir", Path),
    "PROMPTLAB_EVALS_DIR": ("evals_dir", Path),
    "PROMPTLAB_WORKFLOWS_DIR": ("workflows_dir", Path),
    "PROMPTLAB_CONFIRM_ABOVE_USD": ("confirm_above_usd", float),
    "PROMPTLAB_COMPARE_CONCURRENCY": ("compare_concurrency", int),
    "PROMPTLAB_STRUCTURED_REPAIRS": ("structured_repairs",
                                     lambda v: int(_choice(v.strip(), ("0", "1", "2")))),
    "PROMPTLAB_MAX_TOOL_CALLS": ("max_tool_calls", lambda v: _within(int(v), 1, 256)),
    "PROMPTLAB_SUMMARY_MODEL": ("summary_model", str),
    "PROMPTLAB_RATE_LIMITS": ("rate_limits", str),
    "PROMPTLAB_API_HOST": ("api_host", str),
    "PROMPTLAB_API_PORT": ("api_port", int),
    "PROMPTLAB_API_WORKERS": ("api_workers", lambda v: _within(int(v), 0, 256)),
    "PROMPTLAB_MCP_HOST": ("mcp_host", str),
    "PROMPTLAB_MCP_PORT": ("mcp_port", int),
    "PROMPTLAB_METRICS": ("metrics", lambda v: _flag(v)),
    "PROMPTLAB_METRICS_KEY": ("metrics_key", str),
    "PROMPTLAB_CACHE": ("cache_pages",
                        lambda v: tuple(p.strip() for p in v.split(",") if p.strip())),
    "PROMPTLAB_CACHE_TTL": ("cache_ttl_s", float),
    "PROMPTLAB_CACHE_MAX_ENTRIES": ("cache_max_entries", lambda v: _within(int(v), 1, 10**9)),
    "PROMPTLAB_LOG_LEVEL": ("log_level", lambda v: _choice(v.upper(), LOG_LEVELS)),
}


def _choice(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(value)
    return value


def _flag(value: str) -> bool:
    return _choice(value.strip().lower(), ("1", "0", "true", "false", "on", "off", "yes", "no")
                   ) in ("1", "true", "on", "yes")


def _within(value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ValueError(value)
    return value


def secrets_path() -> Path:
    """Where secrets.toml is read from; tests point PROMPTLAB_SECRETS_FILE elsewhere."""
    return Path(os.environ.get("PROMPTLAB_SECRETS_FILE", ROOT / ".streamlit" / "secrets.toml"))


def _read_secrets(path: Path) -> dict[str, object]:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        # Never echo the file's contents: it holds keys.
        raise ConfigError(f"{path} could not be read as TOML ({type(exc).__name__}).",
                          hint="Fix or remove the file and reload.") from None


def load_settings(environ: dict[str, str] | None = None,
                  secrets_file: Path | None = None) -> Settings:
    """Build settings from environment variables over secrets.toml over defaults."""
    env = os.environ if environ is None else environ
    secrets = _read_secrets(secrets_file or secrets_path())
    values: dict[str, object] = {"data_dir": ROOT / "data"}
    for name, (attr, convert) in _FIELDS.items():
        raw: object = env.get(name)
        if raw is None or raw == "":
            raw = secrets.get(name)
        if raw is None or raw == "":
            continue
        try:
            values[attr] = convert(str(raw)) if not isinstance(raw, list) else tuple(raw)
        except ValueError:
            raise ConfigError(f"Setting {name} has an invalid value.") from None
    # Each value was made by its field's converter above; mypy cannot tie keys to fields.
    settings = Settings(**values)  # type: ignore[arg-type]
    # Wherever a configured key turns up in text from elsewhere, it is blanked (lib.core.redaction).
    remember_secrets(settings.anthropic_api_key, settings.openai_api_key,
                     settings.openai_compat_api_key, settings.metrics_key)
    for attr in ("data_dir", "prompts_dir", "evals_dir", "workflows_dir"):
        if not getattr(settings, attr).is_absolute():
            settings = Settings(**{**settings.__dict__, attr: ROOT / getattr(settings, attr)})
    return settings


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings; `get_settings.cache_clear()` re-reads them."""
    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings
